-- SPDX-License-Identifier: BSD-2-Clause
--
-- Wireshark dissector for SMT (Secure Message Transport), docs/protocol.md:
-- natively on IP (protocol 253 unless configured) and over UDP (section
-- 1.1), every header field, control bodies, message and record reassembly,
-- drop-reason hints with the names of include/smt/drop.h, and decryption of
-- records and verification of control tags with the SMT_SESSION key log
-- lines of section 7 (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).
--
-- Wireshark 4.0 (Debian 12) offers Lua no cipher, so the AEADs below are
-- written in plain Lua 5.2 (bit32) from FIPS 197, NIST SP 800-38D and RFC
-- 8439; tests/wireshark checks them against published vectors and against
-- libsmt's OpenSSL through smt-wire. They are slow (about 1 MB/s) but only
-- run on what is displayed; they are for debugging, not constant time.
--
-- Use: tshark -X lua_script:smt.lua -o smt.keylog_file:KEYLOG -r CAPTURE
-- or copy this file to the Lua plugin folder (make install does); see
-- docs/wireshark.md.

local bit = bit32
local band, bor, bxor = bit.band, bit.bor, bit.bxor
local rshift, lshift, lrotate = bit.rshift, bit.lshift, bit.lrotate
local sbyte, schar, floor = string.byte, string.char, math.floor
local concat = table.concat

---------------------------------------------------------------------------
-- AES (FIPS 197), encryption only: GCM needs nothing else.
---------------------------------------------------------------------------

local function xtime(x)
	x = x * 2
	if x >= 256 then
		x = bxor(x, 0x11b)
	end
	return x
end

-- S-box from the multiplicative inverse and the affine map, not a table.
local SBOX = {}
do
	local exp, log = {}, {}
	local x = 1
	for i = 0, 254 do
		exp[i] = x
		log[x] = i
		x = bxor(x, xtime(x)) -- times 3, a generator
	end
	local function rotl8(v, n)
		return band(bor(lshift(v, n), rshift(v, 8 - n)), 255)
	end
	for a = 0, 255 do
		local inv = a == 0 and 0 or exp[(255 - log[a]) % 255]
		SBOX[a] = bxor(inv, rotl8(inv, 1), rotl8(inv, 2), rotl8(inv, 3),
			rotl8(inv, 4), 0x63)
	end
end

-- Round tables: T0[a] = (2s, s, s, 3s), T1..T3 its byte rotations.
local T0, T1, T2, T3 = {}, {}, {}, {}
for a = 0, 255 do
	local s = SBOX[a]
	local s2 = xtime(s)
	local w = bor(lshift(s2, 24), lshift(s, 16), lshift(s, 8), bxor(s2, s))
	T0[a] = w
	T1[a] = bit.rrotate(w, 8)
	T2[a] = bit.rrotate(w, 16)
	T3[a] = bit.rrotate(w, 24)
end

local function be32(s, i)
	local a, b, c, d = sbyte(s, i, i + 3)
	return ((a * 256 + b) * 256 + c) * 256 + d
end

local function subword(w)
	return bor(lshift(SBOX[rshift(w, 24)], 24),
		lshift(SBOX[band(rshift(w, 16), 255)], 16),
		lshift(SBOX[band(rshift(w, 8), 255)], 8), SBOX[band(w, 255)])
end

local function aes_expand(key)
	local nk = #key / 4
	local nr = nk + 6
	local w = {}
	for i = 0, nk - 1 do
		w[i] = be32(key, 4 * i + 1)
	end
	local rcon = 1
	for i = nk, 4 * (nr + 1) - 1 do
		local t = w[i - 1]
		if i % nk == 0 then
			t = bxor(subword(lrotate(t, 8)), lshift(rcon, 24))
			rcon = xtime(rcon)
		elseif nk > 6 and i % nk == 4 then
			t = subword(t)
		end
		w[i] = bxor(w[i - nk], t)
	end
	return w, nr
end

local function aes_block(w, nr, s0, s1, s2, s3)
	s0, s1, s2, s3 = bxor(s0, w[0]), bxor(s1, w[1]), bxor(s2, w[2]),
		bxor(s3, w[3])
	local k = 4
	for _ = 1, nr - 1 do
		s0, s1, s2, s3 =
			bxor(T0[rshift(s0, 24)], T1[band(rshift(s1, 16), 255)],
				T2[band(rshift(s2, 8), 255)], T3[band(s3, 255)], w[k]),
			bxor(T0[rshift(s1, 24)], T1[band(rshift(s2, 16), 255)],
				T2[band(rshift(s3, 8), 255)], T3[band(s0, 255)], w[k + 1]),
			bxor(T0[rshift(s2, 24)], T1[band(rshift(s3, 16), 255)],
				T2[band(rshift(s0, 8), 255)], T3[band(s1, 255)], w[k + 2]),
			bxor(T0[rshift(s3, 24)], T1[band(rshift(s0, 16), 255)],
				T2[band(rshift(s1, 8), 255)], T3[band(s2, 255)], w[k + 3])
		k = k + 4
	end
	local S = SBOX
	return bxor(bor(lshift(S[rshift(s0, 24)], 24),
			lshift(S[band(rshift(s1, 16), 255)], 16),
			lshift(S[band(rshift(s2, 8), 255)], 8), S[band(s3, 255)]), w[k]),
		bxor(bor(lshift(S[rshift(s1, 24)], 24),
			lshift(S[band(rshift(s2, 16), 255)], 16),
			lshift(S[band(rshift(s3, 8), 255)], 8), S[band(s0, 255)]), w[k + 1]),
		bxor(bor(lshift(S[rshift(s2, 24)], 24),
			lshift(S[band(rshift(s3, 16), 255)], 16),
			lshift(S[band(rshift(s0, 8), 255)], 8), S[band(s1, 255)]), w[k + 2]),
		bxor(bor(lshift(S[rshift(s3, 24)], 24),
			lshift(S[band(rshift(s0, 16), 255)], 16),
			lshift(S[band(rshift(s1, 8), 255)], 8), S[band(s2, 255)]), w[k + 3])
end

local function word_bytes(w)
	return rshift(w, 24), band(rshift(w, 16), 255), band(rshift(w, 8), 255),
		band(w, 255)
end

---------------------------------------------------------------------------
-- GHASH (NIST SP 800-38D) with a 256-entry table per key: Z = Z * x^8 ^ M[b]
-- from the last byte of a block to the first.
---------------------------------------------------------------------------

-- multiply a 128-bit value (four big-endian words) by x: shift right 1,
-- and reduce with 0xE1 || 0^120 when a bit falls off.
local function gf_mulx(a, b, c, d)
	local lsb = band(d, 1)
	d = bor(rshift(d, 1), lshift(band(c, 1), 31))
	c = bor(rshift(c, 1), lshift(band(b, 1), 31))
	b = bor(rshift(b, 1), lshift(band(a, 1), 31))
	a = rshift(a, 1)
	if lsb == 1 then
		a = bxor(a, 0xe1000000)
	end
	return a, b, c, d
end

-- R8[r]: what falls into the top word when the low byte r is shifted out
-- by 8 single steps (computed, not transcribed).
local R8 = {}
for r = 0, 255 do
	local a, b, c, d = 0, 0, 0, r
	for _ = 1, 8 do
		a, b, c, d = gf_mulx(a, b, c, d)
	end
	R8[r] = a
end

local function ghash_table(h0, h1, h2, h3)
	local ma, mb, mc, md = { [0] = 0 }, { [0] = 0 }, { [0] = 0 }, { [0] = 0 }
	local a, b, c, d = h0, h1, h2, h3
	local v = 128
	while v >= 1 do -- bit 0x80 is x^0, bit 0x01 is x^7
		ma[v], mb[v], mc[v], md[v] = a, b, c, d
		a, b, c, d = gf_mulx(a, b, c, d)
		v = v / 2
	end
	local p = 1
	while p < 256 do
		for j = 1, p - 1 do
			ma[p + j] = bxor(ma[p], ma[j])
			mb[p + j] = bxor(mb[p], mb[j])
			mc[p + j] = bxor(mc[p], mc[j])
			md[p + j] = bxor(md[p], md[j])
		end
		p = p * 2
	end
	return { ma, mb, mc, md }
end

-- Z = (Z xor X) * H for X = the 16 bytes x1..x16
local function ghash_mul(t, z0, z1, z2, z3, ...)
	local ma, mb, mc, md = t[1], t[2], t[3], t[4]
	local x = { ... }
	local xb = {}
	local w0, w1, w2, w3 = word_bytes(z0)
	xb[1], xb[2], xb[3], xb[4] = bxor(w0, x[1]), bxor(w1, x[2]),
		bxor(w2, x[3]), bxor(w3, x[4])
	w0, w1, w2, w3 = word_bytes(z1)
	xb[5], xb[6], xb[7], xb[8] = bxor(w0, x[5]), bxor(w1, x[6]),
		bxor(w2, x[7]), bxor(w3, x[8])
	w0, w1, w2, w3 = word_bytes(z2)
	xb[9], xb[10], xb[11], xb[12] = bxor(w0, x[9]), bxor(w1, x[10]),
		bxor(w2, x[11]), bxor(w3, x[12])
	w0, w1, w2, w3 = word_bytes(z3)
	xb[13], xb[14], xb[15], xb[16] = bxor(w0, x[13]), bxor(w1, x[14]),
		bxor(w2, x[15]), bxor(w3, x[16])
	local v = xb[16]
	local a, b, c, d = ma[v], mb[v], mc[v], md[v]
	for i = 15, 1, -1 do
		local r = band(d, 255)
		d = bor(rshift(d, 8), lshift(band(c, 255), 24))
		c = bor(rshift(c, 8), lshift(band(b, 255), 24))
		b = bor(rshift(b, 8), lshift(band(a, 255), 24))
		v = xb[i]
		a = bxor(rshift(a, 8), R8[r], ma[v])
		b = bxor(b, mb[v])
		c = bxor(c, mc[v])
		d = bxor(d, md[v])
	end
	return a, b, c, d
end

-- GHASH over data (zero-padded to 16 bytes), continuing from z
local function ghash_data(t, z0, z1, z2, z3, s)
	local n = #s
	local i = 1
	while i + 15 <= n do
		z0, z1, z2, z3 = ghash_mul(t, z0, z1, z2, z3, sbyte(s, i, i + 15))
		i = i + 16
	end
	if i <= n then
		local tail = s:sub(i) .. string.rep("\0", 16 - (n - i + 1))
		z0, z1, z2, z3 = ghash_mul(t, z0, z1, z2, z3, sbyte(tail, 1, 16))
	end
	return z0, z1, z2, z3
end

local function words_str(a, b, c, d)
	local x = { word_bytes(a) }
	local y = { word_bytes(b) }
	local z = { word_bytes(c) }
	local u = { word_bytes(d) }
	return schar(x[1], x[2], x[3], x[4], y[1], y[2], y[3], y[4], z[1], z[2],
		z[3], z[4], u[1], u[2], u[3], u[4])
end

local function len64(n) -- a 64-bit big-endian count of bits
	local bits = n * 8
	local hi = floor(bits / 4294967296)
	return schar(word_bytes(hi)) .. schar(word_bytes(bits % 4294967296))
end

local gcm = {}
gcm.__index = gcm

local function gcm_new(key)
	local w, nr = aes_expand(key)
	local h0, h1, h2, h3 = aes_block(w, nr, 0, 0, 0, 0)
	return setmetatable({ w = w, nr = nr, t = ghash_table(h0, h1, h2, h3) },
		gcm)
end

-- CTR from counter block (n0, n1, n2, ctr) over s
local function gcm_ctr(self, n0, n1, n2, ctr, s)
	local w, nr = self.w, self.nr
	local out = {}
	local n = #s
	local i, o = 1, 1
	while i <= n do
		local k0, k1, k2, k3 = aes_block(w, nr, n0, n1, n2, ctr)
		ctr = (ctr + 1) % 4294967296
		local ks = { word_bytes(k0) }
		ks[5], ks[6], ks[7], ks[8] = word_bytes(k1)
		ks[9], ks[10], ks[11], ks[12] = word_bytes(k2)
		ks[13], ks[14], ks[15], ks[16] = word_bytes(k3)
		local m = n - i + 1
		if m >= 16 then
			local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13,
				b14, b15, b16 = sbyte(s, i, i + 15)
			out[o] = schar(bxor(b1, ks[1]), bxor(b2, ks[2]), bxor(b3, ks[3]),
				bxor(b4, ks[4]), bxor(b5, ks[5]), bxor(b6, ks[6]),
				bxor(b7, ks[7]), bxor(b8, ks[8]), bxor(b9, ks[9]),
				bxor(b10, ks[10]), bxor(b11, ks[11]), bxor(b12, ks[12]),
				bxor(b13, ks[13]), bxor(b14, ks[14]), bxor(b15, ks[15]),
				bxor(b16, ks[16]))
		else
			local t = {}
			for j = 1, m do
				t[j] = schar(bxor(sbyte(s, i + j - 1), ks[j]))
			end
			out[o] = concat(t)
		end
		o = o + 1
		i = i + 16
	end
	return concat(out)
end

local function gcm_tag(self, n0, n1, n2, aad, ct)
	local t = self.t
	local z0, z1, z2, z3 = ghash_data(t, 0, 0, 0, 0, aad)
	z0, z1, z2, z3 = ghash_data(t, z0, z1, z2, z3, ct)
	z0, z1, z2, z3 = ghash_data(t, z0, z1, z2, z3, len64(#aad) .. len64(#ct))
	local e0, e1, e2, e3 = aes_block(self.w, self.nr, n0, n1, n2, 1)
	return words_str(bxor(z0, e0), bxor(z1, e1), bxor(z2, e2), bxor(z3, e3))
end

-- open: the plaintext, or nil when the tag does not verify
function gcm:open(nonce, aad, ct, tag)
	local n0, n1, n2 = be32(nonce, 1), be32(nonce, 5), be32(nonce, 9)
	if gcm_tag(self, n0, n1, n2, aad, ct) ~= tag then
		return nil
	end
	return gcm_ctr(self, n0, n1, n2, 2, ct)
end

function gcm:seal(nonce, aad, pt)
	local n0, n1, n2 = be32(nonce, 1), be32(nonce, 5), be32(nonce, 9)
	local ct = gcm_ctr(self, n0, n1, n2, 2, pt)
	return ct, gcm_tag(self, n0, n1, n2, aad, ct)
end

---------------------------------------------------------------------------
-- ChaCha20 and Poly1305 (RFC 8439)
---------------------------------------------------------------------------

local function le32(s, i)
	local a, b, c, d = sbyte(s, i, i + 3)
	return ((d * 256 + c) * 256 + b) * 256 + a
end

local M32 = 4294967296

-- one 64-byte key stream block as 16 words
local function chacha_block(k, ctr, nw)
	local x0, x1, x2, x3 = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	local x4, x5, x6, x7 = k[1], k[2], k[3], k[4]
	local x8, x9, x10, x11 = k[5], k[6], k[7], k[8]
	local x12, x13, x14, x15 = ctr, nw[1], nw[2], nw[3]
	for _ = 1, 10 do
		-- columns
		x0 = (x0 + x4) % M32; x12 = lrotate(bxor(x12, x0), 16)
		x8 = (x8 + x12) % M32; x4 = lrotate(bxor(x4, x8), 12)
		x0 = (x0 + x4) % M32; x12 = lrotate(bxor(x12, x0), 8)
		x8 = (x8 + x12) % M32; x4 = lrotate(bxor(x4, x8), 7)
		x1 = (x1 + x5) % M32; x13 = lrotate(bxor(x13, x1), 16)
		x9 = (x9 + x13) % M32; x5 = lrotate(bxor(x5, x9), 12)
		x1 = (x1 + x5) % M32; x13 = lrotate(bxor(x13, x1), 8)
		x9 = (x9 + x13) % M32; x5 = lrotate(bxor(x5, x9), 7)
		x2 = (x2 + x6) % M32; x14 = lrotate(bxor(x14, x2), 16)
		x10 = (x10 + x14) % M32; x6 = lrotate(bxor(x6, x10), 12)
		x2 = (x2 + x6) % M32; x14 = lrotate(bxor(x14, x2), 8)
		x10 = (x10 + x14) % M32; x6 = lrotate(bxor(x6, x10), 7)
		x3 = (x3 + x7) % M32; x15 = lrotate(bxor(x15, x3), 16)
		x11 = (x11 + x15) % M32; x7 = lrotate(bxor(x7, x11), 12)
		x3 = (x3 + x7) % M32; x15 = lrotate(bxor(x15, x3), 8)
		x11 = (x11 + x15) % M32; x7 = lrotate(bxor(x7, x11), 7)
		-- diagonals
		x0 = (x0 + x5) % M32; x15 = lrotate(bxor(x15, x0), 16)
		x10 = (x10 + x15) % M32; x5 = lrotate(bxor(x5, x10), 12)
		x0 = (x0 + x5) % M32; x15 = lrotate(bxor(x15, x0), 8)
		x10 = (x10 + x15) % M32; x5 = lrotate(bxor(x5, x10), 7)
		x1 = (x1 + x6) % M32; x12 = lrotate(bxor(x12, x1), 16)
		x11 = (x11 + x12) % M32; x6 = lrotate(bxor(x6, x11), 12)
		x1 = (x1 + x6) % M32; x12 = lrotate(bxor(x12, x1), 8)
		x11 = (x11 + x12) % M32; x6 = lrotate(bxor(x6, x11), 7)
		x2 = (x2 + x7) % M32; x13 = lrotate(bxor(x13, x2), 16)
		x8 = (x8 + x13) % M32; x7 = lrotate(bxor(x7, x8), 12)
		x2 = (x2 + x7) % M32; x13 = lrotate(bxor(x13, x2), 8)
		x8 = (x8 + x13) % M32; x7 = lrotate(bxor(x7, x8), 7)
		x3 = (x3 + x4) % M32; x14 = lrotate(bxor(x14, x3), 16)
		x9 = (x9 + x14) % M32; x4 = lrotate(bxor(x4, x9), 12)
		x3 = (x3 + x4) % M32; x14 = lrotate(bxor(x14, x3), 8)
		x9 = (x9 + x14) % M32; x4 = lrotate(bxor(x4, x9), 7)
	end
	return {
		(x0 + 0x61707865) % M32, (x1 + 0x3320646e) % M32,
		(x2 + 0x79622d32) % M32, (x3 + 0x6b206574) % M32,
		(x4 + k[1]) % M32, (x5 + k[2]) % M32, (x6 + k[3]) % M32,
		(x7 + k[4]) % M32, (x8 + k[5]) % M32, (x9 + k[6]) % M32,
		(x10 + k[7]) % M32, (x11 + k[8]) % M32, (x12 + ctr) % M32,
		(x13 + nw[1]) % M32, (x14 + nw[2]) % M32, (x15 + nw[3]) % M32,
	}
end

local function le_bytes(w)
	return band(w, 255), band(rshift(w, 8), 255), band(rshift(w, 16), 255),
		rshift(w, 24)
end

local function chacha_xor(k, nw, ctr, s)
	local out = {}
	local n = #s
	local i, o = 1, 1
	while i <= n do
		local ks = chacha_block(k, ctr, nw)
		ctr = ctr + 1
		local m = n - i + 1
		if m >= 64 then
			local t = {}
			for j = 0, 15 do
				local w = bxor(ks[j + 1], le32(s, i + 4 * j))
				t[j + 1] = schar(le_bytes(w))
			end
			out[o] = concat(t)
		else
			local kb = {}
			for j = 1, 16 do
				kb[4 * j - 3], kb[4 * j - 2], kb[4 * j - 1], kb[4 * j] =
					le_bytes(ks[j])
			end
			local t = {}
			for j = 1, m do
				t[j] = schar(bxor(sbyte(s, i + j - 1), kb[j]))
			end
			out[o] = concat(t)
		end
		o = o + 1
		i = i + 64
	end
	return concat(out)
end

-- Poly1305 over 16-byte blocks, the accumulator in ten 13-bit limbs so
-- that every product sum stays exact in a double.
local L13 = 8192

local function limbs_from_le(s, i, n, top) -- n bytes, then the bit `top`
	local l = {}
	local acc, bits, k = 0, 0, 1
	for j = 0, n - 1 do
		acc = acc + sbyte(s, i + j) * 2 ^ bits
		bits = bits + 8
		while bits >= 13 do
			l[k] = acc % L13
			acc = floor(acc / L13)
			bits = bits - 13
			k = k + 1
		end
	end
	acc = acc + top * 2 ^ bits
	while k <= 10 do
		l[k] = acc % L13
		acc = floor(acc / L13)
		k = k + 1
	end
	return l
end

local function poly1305(key, msg)
	local rs = {}
	for j = 1, 16 do
		rs[j] = sbyte(key, j)
	end
	-- clamp r
	for _, j in ipairs({ 4, 8, 12, 16 }) do
		rs[j] = band(rs[j], 15)
	end
	for _, j in ipairs({ 5, 9, 13 }) do
		rs[j] = band(rs[j], 252)
	end
	local r = limbs_from_le(schar(unpack(rs)), 1, 16, 0)
	local r5 = {}
	for j = 1, 10 do
		r5[j] = r[j] * 5
	end
	local h = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
	for i = 1, #msg, 16 do
		local m = limbs_from_le(msg, i, math.min(16, #msg - i + 1), 1)
		for j = 1, 10 do
			h[j] = h[j] + m[j]
		end
		local d = {}
		for k = 0, 9 do
			local sum = 0
			for a = 0, 9 do
				local b = k - a
				if b >= 0 then
					sum = sum + h[a + 1] * r[b + 1]
				else
					sum = sum + h[a + 1] * r5[b + 11]
				end
			end
			d[k + 1] = sum
		end
		local c = 0
		for j = 1, 10 do
			d[j] = d[j] + c
			c = floor(d[j] / L13)
			d[j] = d[j] - c * L13
		end
		d[1] = d[1] + c * 5
		c = floor(d[1] / L13)
		d[1] = d[1] - c * L13
		d[2] = d[2] + c
		h = d
	end
	-- full carry, then subtract p when h >= p
	for _ = 1, 2 do
		local c = 0
		for j = 1, 10 do
			h[j] = h[j] + c
			c = floor(h[j] / L13)
			h[j] = h[j] - c * L13
		end
		h[1] = h[1] + c * 5
	end
	local g, c = {}, 5
	for j = 1, 10 do
		g[j] = h[j] + c
		c = floor(g[j] / L13)
		g[j] = g[j] - c * L13
	end
	if c > 0 then -- h + 5 >= 2^130: h - p = g without the 2^130 bit
		h = g
	end
	-- to 16 little-endian bytes, plus s, mod 2^128
	local out = {}
	local acc, bits, k = 0, 0, 1
	for j = 1, 10 do
		acc = acc + h[j] * 2 ^ bits
		bits = bits + 13
		while bits >= 8 and k <= 16 do
			out[k] = acc % 256
			acc = floor(acc / 256)
			bits = bits - 8
			k = k + 1
		end
	end
	c = 0
	for j = 1, 16 do
		local v = out[j] + sbyte(key, 16 + j) + c
		out[j] = v % 256
		c = floor(v / 256)
	end
	return schar(unpack(out))
end

local function pad16(s)
	local r = #s % 16
	return r == 0 and "" or string.rep("\0", 16 - r)
end

local function le64(n)
	return schar(le_bytes(n % M32)) .. schar(le_bytes(floor(n / M32)))
end

local chacha = {}
chacha.__index = chacha

local function chacha_new(key)
	local k = {}
	for j = 1, 8 do
		k[j] = le32(key, 4 * j - 3)
	end
	return setmetatable({ k = k }, chacha)
end

local function chacha_tag(self, nw, aad, ct)
	local otk = chacha_xor(self.k, nw, 0, string.rep("\0", 32))
	return poly1305(otk, aad .. pad16(aad) .. ct .. pad16(ct) .. le64(#aad) ..
		le64(#ct))
end

local function nonce_words(nonce)
	return { le32(nonce, 1), le32(nonce, 5), le32(nonce, 9) }
end

function chacha:open(nonce, aad, ct, tag)
	local nw = nonce_words(nonce)
	if chacha_tag(self, nw, aad, ct) ~= tag then
		return nil
	end
	return chacha_xor(self.k, nw, 1, ct)
end

function chacha:seal(nonce, aad, pt)
	local nw = nonce_words(nonce)
	local ct = chacha_xor(self.k, nw, 1, pt)
	return ct, chacha_tag(self, nw, aad, ct)
end

-- The three suites of docs/protocol.md section 6, by IANA name: key length
-- and constructor.
local SUITES = {
	TLS_AES_128_GCM_SHA256 = { 16, gcm_new },
	TLS_AES_256_GCM_SHA384 = { 32, gcm_new },
	TLS_CHACHA20_POLY1305_SHA256 = { 32, chacha_new },
}

local crypto = {
	suites = SUITES,
	aead = function(cipher, key)
		local s = SUITES[cipher]
		if not s or #key ~= s[1] then
			return nil
		end
		return s[2](key)
	end,
	poly1305 = poly1305,
	chacha_block = function(key, ctr, nonce)
		local c = chacha_new(key)
		return c.k and chacha_block(c.k, ctr, nonce_words(nonce))
	end,
	aes_encrypt = function(key, block)
		local w, nr = aes_expand(key)
		return words_str(aes_block(w, nr, be32(block, 1), be32(block, 5),
			be32(block, 9), be32(block, 13)))
	end,
}

if not Proto then -- plain Lua (tests): the ciphers only
	return crypto
end

---------------------------------------------------------------------------
-- The dissector
---------------------------------------------------------------------------

if _G.SMT_LUA then -- a second copy (installed and -X lua_script): inert
	print("smt.lua: already loaded from " .. _G.SMT_LUA.source ..
		"; this copy is not used")
	return
end
_G.SMT_LUA = { crypto = crypto, -- for tests/wireshark/vectors.lua
	source = debug.getinfo(1, "S").source:gsub("^@", "") }

local smt = Proto("smt", "Secure Message Transport")

local TYPES = {
	[0x10] = "DATA", [0x11] = "GRANT", [0x12] = "RESEND", [0x13] = "UNKNOWN",
	[0x14] = "BUSY", [0x17] = "NEED_ACK", [0x18] = "ACK",
}
-- exact control lengths (section 5); ACK: 66 + 8 x count
local CTL_LEN = { [0x11] = 72, [0x12] = 76, [0x13] = 64, [0x14] = 64,
	[0x17] = 64 }

-- include/smt/drop.h: the reasons this dissector can name, with their text
local DROPS = {
	short_header = "IP payload shorter than 40 bytes",
	bad_doff_ver = "doff_ver is not 0xA1",
	unknown_type = "reserved packet type",
	bad_msg_id = "DATA msg_id < 2 or >= 2^(B-1)",
	msg_len_over_max = "DATA msg_len > max_wire",
	empty_payload = "DATA without payload",
	past_msg_len = "DATA runs past msg_len",
	past_record = "DATA runs past the end of its record",
	seg_off_after_pkt_off = "DATA seg_off > pkt_off",
	short_record_start = "record-starting DATA with fewer than 5 bytes",
	msg_len_mismatch = "DATA msg_len differs from what is held",
	seg_off_mismatch = "DATA seg_off differs for the same rec_idx",
	bytes_mismatch = "DATA bytes differ at an offset already received",
	bad_control_length = "control packet length is not its type's",
	no_epoch_keys = "epoch has no keys",
	unknown_session = "no session for (peer address, peer port, local port)",
	bad_record_header = "record header not 17 03 03 or length out of range",
	record_auth_failed = "record tag did not verify",
	control_auth_failed = "control tag did not verify",
	control_replay = "ctl_seq out of range or already accepted",
	request_replay = "request below the window or already delivered",
	truncated = "app_len does not match the content",
	bad_inner = "unknown inner flags, inner type or ONEWAY response",
	duplicate = "late duplicate of a delivered message",
	ipid_off_on_ipv6 = "IPID_OFF set on IPv6",
	record_failed_3x = "a record failed three times; message state freed",
	bad_ack_count = "ACK count not in 1..32",
	bad_rec_idx = "rec_idx beyond the record limit",
	ip_fragment = "fragmented IP packet",
	bad_control_fields = "control packet with a bad body (reserved bytes, ranges)",
	udp_port_mismatch = "SMT over UDP: SMT header ports differ from the UDP ports",
}

local pf = {
	sport = ProtoField.uint16("smt.sport", "Source port"),
	dport = ProtoField.uint16("smt.dport", "Destination port"),
	port = ProtoField.uint16("smt.port", "Port"),
	pkt_off = ProtoField.uint32("smt.pkt_off", "Packet offset"),
	seg_off = ProtoField.uint32("smt.seg_off", "Record offset (seg_off)"),
	doff_ver = ProtoField.uint8("smt.doff_ver", "Data offset and version",
		base.HEX),
	hdr_len = ProtoField.uint8("smt.hdr_len", "Header length", base.DEC, nil,
		0xf0),
	version = ProtoField.uint8("smt.version", "Version", base.DEC, nil, 0x0f),
	type = ProtoField.uint8("smt.type", "Type", base.HEX, TYPES),
	flags = ProtoField.uint16("smt.flags", "Flags", base.HEX),
	f_retransmit = ProtoField.bool("smt.flags.retransmit", "RETRANSMIT", 16,
		nil, 0x0001),
	f_ipid_off = ProtoField.bool("smt.flags.ipid_off", "IPID_OFF", 16, nil,
		0x0002),
	csum = ProtoField.uint16("smt.csum", "Checksum (unused)", base.HEX),
	rec_idx = ProtoField.uint16("smt.rec_idx", "Record index"),
	msg_id = ProtoField.uint64("smt.msg_id", "Message ID"),
	response = ProtoField.bool("smt.response", "Response (odd msg_id)"),
	msg_len = ProtoField.uint32("smt.msg_len", "Message wire length"),
	granted = ProtoField.uint32("smt.granted", "Granted"),
	prio = ProtoField.uint8("smt.prio", "Priority"),
	epoch = ProtoField.uint8("smt.epoch", "Epoch"),
	pkt_idx = ProtoField.uint16("smt.pkt_idx", "Packet index in record"),
	encap = ProtoField.string("smt.encap", "Encapsulation"),
	flow = ProtoField.string("smt.flow", "Flow"),
	payload_len = ProtoField.uint32("smt.payload_len", "Payload length"),
	real_off = ProtoField.uint32("smt.real_off", "Real offset (IPID_OFF)"),
	payload = ProtoField.bytes("smt.payload", "Payload"),
	rec_hdr = ProtoField.bytes("smt.rec_hdr", "Record header"),
	rec_type = ProtoField.uint8("smt.rec_hdr.type", "Opaque type", base.HEX),
	rec_ver = ProtoField.uint16("smt.rec_hdr.version", "Legacy version",
		base.HEX),
	rec_len = ProtoField.uint16("smt.rec_hdr.length", "Length"),
	-- control bodies and trailer
	c_offset = ProtoField.uint32("smt.ctl.offset", "Offset"),
	c_length = ProtoField.uint32("smt.ctl.length", "Length"),
	c_prio = ProtoField.uint8("smt.ctl.prio", "Priority"),
	c_zero = ProtoField.bytes("smt.ctl.reserved", "Reserved"),
	ack_count = ProtoField.uint16("smt.ack.count", "Count"),
	ack_id = ProtoField.uint64("smt.ack.msg_id", "Acknowledged msg_id"),
	ctl_seq = ProtoField.uint64("smt.ctl_seq", "Control sequence number"),
	tag = ProtoField.bytes("smt.tag", "Tag"),
	ctl_status = ProtoField.string("smt.ctl.status", "Control status"),
	-- analysis
	drop = ProtoField.string("smt.drop", "Drop reason"),
	violation = ProtoField.bool("smt.drop.violation", "Violation"),
	session = ProtoField.string("smt.session", "Key log session"),
	-- records
	record = ProtoField.uint16("smt.record", "Record"),
	rec_status = ProtoField.string("smt.record.status", "Record status"),
	rec_wire = ProtoField.uint32("smt.record.wire_len", "Record wire length"),
	rec_content = ProtoField.bytes("smt.record.content", "Record content"),
	rec_content_len = ProtoField.uint32("smt.record.content_len",
		"Record content length"),
	rec_pad = ProtoField.uint32("smt.record.padding", "Padding"),
	rec_frames = ProtoField.string("smt.record.frames", "Record frames"),
	rec_in = ProtoField.framenum("smt.record.complete_in",
		"Record complete in"),
	-- messages
	msg_status = ProtoField.string("smt.msg.status", "Message status"),
	msg_records = ProtoField.uint32("smt.msg.records", "Records"),
	msg_packets = ProtoField.uint32("smt.msg.packets", "Packets"),
	app_len = ProtoField.uint32("smt.msg.app_len", "Application length"),
	inner_flags = ProtoField.uint32("smt.msg.inner_flags", "Inner flags",
		base.HEX),
	oneway = ProtoField.bool("smt.msg.oneway", "ONEWAY", 32, nil, 1),
	app_data = ProtoField.bytes("smt.msg.data", "Application data"),
	msg_frames = ProtoField.string("smt.msg.frames", "Message frames"),
	msg_in = ProtoField.framenum("smt.msg.complete_in", "Message complete in"),
}
local fields = {}
for _, f in pairs(pf) do
	fields[#fields + 1] = f
end
smt.fields = fields

local ex = {
	drop = ProtoExpert.new("smt.drop.expert", "SMT drop",
		expert.group.MALFORMED, expert.severity.ERROR),
	benign = ProtoExpert.new("smt.drop.benign", "SMT duplicate",
		expert.group.SEQUENCE, expert.severity.NOTE),
	nokey = ProtoExpert.new("smt.nokey", "SMT: no key log line",
		expert.group.UNDECODED, expert.severity.NOTE),
	msg = ProtoExpert.new("smt.msg.expert", "SMT message",
		expert.group.REASSEMBLE, expert.severity.CHAT),
}
smt.experts = { ex.drop, ex.benign, ex.nokey, ex.msg }

smt.prefs.ipproto = Pref.uint("Native IP protocol number", 253,
	"SMT's IP protocol number (docs/protocol.md 1); not 17, 6 or 0")
smt.prefs.udp_ports = Pref.range("UDP port ranges", "",
	"UDP ports whose every datagram is SMT (as an endpoint on them sees " ..
	"it, smt-wire --udp-ports). Empty: any UDP datagram with at least 40 " ..
	"bytes of payload and 0xA1 at byte 12 of it (docs/protocol.md 1.1)",
	65535)
smt.prefs.udp_heur = Pref.bool("Recognise SMT over UDP on any port", true,
	"docs/protocol.md 1.1 checks 3 and 4: payload >= 40 bytes, doff_ver 0xA1")
smt.prefs.keylog_file = Pref.string("Key log file", "",
	"SMT_SESSION lines (docs/protocol.md 7); empty: $SMT_KEYLOGFILE")
smt.prefs.bits = Pref.uint("Message-ID width B", 48,
	"for flows without a key log line, 40..56")
smt.prefs.max_msg = Pref.uint("Maximum message size M", 1048576,
	"for flows without a key log line")
smt.prefs.max_pad = Pref.uint("Maximum padding P", 0,
	"for flows without a key log line")

local f_ip_id = Field.new("ip.id")
local f_ip_mf = Field.new("ip.flags.mf")
local f_ip_frag = Field.new("ip.frag_offset")

local function hex2bin(h)
	return (h:gsub("..", function(x)
		return string.char(tonumber(x, 16))
	end))
end

-- ---- key log -------------------------------------------------------------

local sessions -- list of key log lines
local keylog_error

local function load_keylog()
	sessions = {}
	keylog_error = nil
	local path = smt.prefs.keylog_file
	if not path or path == "" then
		path = os.getenv("SMT_KEYLOGFILE") or ""
	end
	if path == "" then
		return
	end
	local f = io.open(path, "r")
	if not f then
		keylog_error = "cannot read key log " .. path
		return
	end
	local no = 0
	for line in f:lines() do
		no = no + 1
		if line:sub(1, 12) == "SMT_SESSION " then
			local t = {}
			for w in line:gmatch("%S+") do
				t[#t + 1] = w
			end
			local suite = SUITES[t[6] or ""]
			if #t ~= 14 or not suite or #t[11] ~= 2 * suite[1] or
				#t[13] ~= 2 * suite[1] or #t[12] ~= 24 or #t[14] ~= 24 then
				keylog_error = string.format("%s line %d: bad SMT_SESSION line",
					path, no)
			else
				sessions[#sessions + 1] = {
					cip = t[2], cport = tonumber(t[3]), sip = t[4],
					sport = tonumber(t[5]), cipher = t[6], B = tonumber(t[7]),
					epoch = tonumber(t[8]), M = tonumber(t[9]),
					P = tonumber(t[10]), c_key = hex2bin(t[11]),
					c_iv = hex2bin(t[12]), s_key = hex2bin(t[13]),
					s_iv = hex2bin(t[14]), line = no,
				}
			end
		end
	end
	f:close()
end

-- the key log line of a packet, as smt-wire finds it: nil and a drop
-- reason when the key log has lines but none for this flow or epoch
local function find_session(src, sp, dst, dp, epoch)
	local known = false
	for _, s in ipairs(sessions) do
		local fc = src == s.cip and sp == s.cport and dst == s.sip and
			dp == s.sport
		local fs = src == s.sip and sp == s.sport and dst == s.cip and
			dp == s.cport
		if fc or fs then
			known = true
			if epoch == nil or s.epoch == epoch then
				return s, fc
			end
		end
	end
	return nil, known and "no_epoch_keys" or "unknown_session"
end

-- ---- state of the first pass --------------------------------------------

local frames -- frame number -> what the analysis found
local dirs -- direction key -> { aead, iv, B, msgs, ctl window, req window }

function smt.init()
	frames = {}
	dirs = {}
	load_keylog()
end

local function max_wire(M, P)
	return M + 8 + (22 + P) * math.ceil((M + 8) / 4096)
end

-- the record sequence number of section 3.1 as 8 bytes
local function rec_seq(hi, lo, B, k)
	local s = 64 - B
	local shi = bor(lshift(hi, s), rshift(lo, 32 - s))
	local slo = bor(lshift(lo, s), k)
	return schar(word_bytes(shi)) .. schar(word_bytes(slo))
end

local function nonce_of(iv, seq8)
	local t = { sbyte(iv, 1, 4) }
	for i = 1, 8 do
		t[4 + i] = bxor(sbyte(iv, 4 + i), sbyte(seq8, i))
	end
	return schar(unpack(t))
end

-- sliding windows of sections 4 and 5 over UInt64 values
local function win_check(w, v, size)
	if w.highest and v + size <= w.highest then
		return false
	end
	return not w.seen[tostring(v)]
end

local function win_mark(w, v)
	w.seen[tostring(v)] = true
	if not w.highest or v > w.highest then
		w.highest = v
	end
end

-- the stateless rules (section 2.1, in libsmt's order, 8.2)
local function stateless(tvb, len, lim, ipv4_id)
	if len < 40 then
		return "short_header"
	end
	if tvb(12, 1):uint() ~= 0xA1 then
		return "bad_doff_ver"
	end
	local typ = tvb(13, 1):uint()
	if typ ~= 0x10 then
		if not TYPES[typ] then
			return "unknown_type"
		end
		local want = CTL_LEN[typ]
		if not want then -- ACK
			if len < 66 then
				return "bad_control_length"
			end
			local count = tvb(40, 2):uint()
			if count < 1 or count > 32 then
				return "bad_ack_count"
			end
			want = 66 + 8 * count
		end
		if len ~= want then
			return "bad_control_length"
		end
		return nil
	end
	local pkt_off, seg_off = tvb(4, 4):uint(), tvb(8, 4):uint()
	local flags, rec_idx = tvb(14, 2):uint(), tvb(18, 2):uint()
	local hi, lo = tvb(20, 4):uint(), tvb(24, 4):uint()
	local msg_len, pkt_idx = tvb(28, 4):uint(), tvb(38, 2):uint()
	local plen = len - 40
	if band(flags, 2) ~= 0 then
		if not ipv4_id then
			return "ipid_off_on_ipv6"
		end
		pkt_off = seg_off + ipv4_id * pkt_idx
	end
	if lim.B < 40 or lim.B > 56 or (hi == 0 and lo < 2) or
		hi >= 2 ^ (lim.B - 33) then
		return "bad_msg_id"
	end
	if msg_len > max_wire(lim.M, lim.P) then
		return "msg_len_over_max"
	end
	if plen == 0 then
		return "empty_payload"
	end
	local e = pkt_off + plen
	if e > msg_len then
		return "past_msg_len"
	end
	if seg_off > pkt_off then
		return "seg_off_after_pkt_off"
	end
	if e > seg_off + 5 + 16401 then
		return "past_record"
	end
	if pkt_off == seg_off then
		if plen < 5 then
			return "short_record_start"
		end
		local rlen = tvb(43, 2):uint()
		if tvb(40, 3):uint() ~= 0x170303 or rlen < 17 or rlen > 16401 or
			seg_off + 5 + rlen > msg_len then
			return "bad_record_header"
		end
		if e > seg_off + 5 + rlen then
			return "past_record"
		end
	end
	local limit = math.min(2 ^ (64 - lim.B), 65536)
	if rec_idx >= limit or seg_off < rec_idx * 4118 or
		seg_off > rec_idx * 16406 then
		return "bad_rec_idx"
	end
	return nil, pkt_off
end

-- ---- reassembly (first pass only) ---------------------------------------

-- bytes of a record held in segments { off, data }, sorted by offset:
-- the length covered, and the bytes when they reach from a to a + n
local function rec_cover(rec)
	table.sort(rec.segs, function(x, y)
		return x.off < y.off
	end)
	local covered, reach = 0, rec.seg_off
	for _, s in ipairs(rec.segs) do
		local e = s.off + #s.data
		if e > reach then
			covered = covered + e - math.max(reach, s.off)
			reach = e
		end
	end
	return covered
end

local function rec_bytes(rec)
	local out, reach = {}, rec.seg_off
	for _, s in ipairs(rec.segs) do
		local e = s.off + #s.data
		if s.off > reach then
			return nil
		end
		if e > reach then
			out[#out + 1] = s.data:sub(reach - s.off + 1)
			reach = e
		end
	end
	return concat(out)
end

-- how far a receiver that decrypts as bytes arrive has taken the record:
-- the bytes that reach on from its first byte (protocol.md 3.4)
local function rec_taken(rec)
	local reach = rec.seg_off
	for _, s in ipairs(rec.segs) do
		if s.off > reach then
			break
		end
		reach = math.max(reach, s.off + #s.data)
	end
	return reach
end

-- different bytes where a new segment overlaps held ones? Bytes below
-- `from` were decrypted already, so no longer held: not compared (rule 9)
local function rec_conflict(rec, off, data, from)
	local e = off + #data
	for _, s in ipairs(rec.segs) do
		local a, b = math.max(off, s.off, from), math.min(e, s.off + #s.data)
		if a < b and data:sub(a - off + 1, b - off) ~=
			s.data:sub(a - s.off + 1, b - s.off) then
			return true
		end
	end
	return false
end

local function get_dir(key, s, from_client, lim)
	local d = dirs[key]
	if d then
		return d
	end
	d = { msgs = {}, ctl = { seen = {} }, req = { seen = {} }, lim = lim }
	if s then
		d.aead = crypto.aead(s.cipher, from_client and s.c_key or s.s_key)
		d.iv = from_client and s.c_iv or s.s_iv
	end
	dirs[key] = d
	return d
end

-- A message whose records tile its wire stream, all verified (or, without
-- keys, all present): its content, or nil and a drop reason
local function msg_chain(d, m)
	local off, k, parts = 0, 0, {}
	while off < m.msg_len do
		local rec = m.recs[k]
		if not rec or not rec.done then
			return nil
		end
		if rec.seg_off ~= off then
			return nil, "seg_off_mismatch"
		end
		off = off + rec.wlen
		if off < m.msg_len and rec.wlen < 4096 + 22 then
			return nil, "bad_record_header"
		end
		parts[#parts + 1] = rec.content or ""
		k = k + 1
	end
	if off ~= m.msg_len then
		return nil, "bad_record_header"
	end
	for j, _ in pairs(m.recs) do
		if j >= k then
			return nil, "seg_off_mismatch"
		end
	end
	m.nrec = k
	return concat(parts)
end

local function frame_list(t)
	local seen, l = {}, {}
	for _, f in ipairs(t) do
		if not seen[f] then
			seen[f] = true
			l[#l + 1] = f
		end
	end
	table.sort(l)
	return l
end

-- a record whose bytes are all present: open it (with keys) or note it
local function rec_complete(d, m, k, rec, res, pnum)
	local bytes = rec_bytes(rec)
	local r = { k = k, wire_len = rec.wlen, frames = frame_list(rec.frames) }
	res.rec = r
	for _, f in ipairs(r.frames) do
		frames[f].rec_in = pnum
	end
	if not d.aead then
		rec.done = true
		r.status = "present (no key)"
		return nil
	end
	local seq = rec_seq(m.hi, m.lo, d.lim.B, k)
	local pt = d.aead:open(nonce_of(d.iv, seq), bytes:sub(1, 5),
		bytes:sub(6, rec.wlen - 16), bytes:sub(rec.wlen - 15))
	local reason
	if not pt then
		reason = "record_auth_failed"
	else
		local n = #pt
		while n > 0 and sbyte(pt, n) == 0 do
			n = n - 1
		end
		if n == 0 or sbyte(pt, n) ~= 0x17 then
			reason = "bad_inner"
		else
			rec.content = pt:sub(1, n - 1)
			r.content = rec.content
			r.pad = #pt - n
		end
	end
	if reason then -- forget the record (section 3.4)
		r.status = reason
		m.recs[k] = nil
		m.fails[k] = (m.fails[k] or 0) + 1
		if m.fails[k] >= 3 then
			d.msgs[m.key] = nil
			return "record_failed_3x"
		end
		return reason
	end
	rec.done = true
	r.status = "ok"
	return nil
end

local function msg_finish(d, m, res, pnum, content)
	local r = { records = m.nrec, packets = m.packets,
		frames = frame_list(m.frames) }
	res.msg = r
	for _, f in ipairs(r.frames) do
		frames[f].msg_in = pnum
	end
	if not d.aead then -- as smt-wire: any drop of its packets fails it
		m.status = m.reason and "failed" or "complete"
		r.status = m.status
		return nil
	end
	local reason
	if #content < 8 then
		reason = "truncated"
	else
		local alen = be32(content, 1)
		local flags = be32(content, 5)
		r.app_len, r.flags = alen, flags
		if alen ~= #content - 8 then
			reason = "truncated"
		elseif band(flags, 0xfffffffe) ~= 0 or
			(flags == 1 and m.lo % 2 == 1) then
			reason = "bad_inner"
		end
	end
	if reason then
		m.status = "failed"
		r.status = "failed"
		return reason
	end
	m.status = "ok"
	r.status = "ok"
	r.data = content:sub(9)
	if m.lo % 2 == 0 then
		win_mark(d.req, m.id)
	end
	return nil
end

local data_packet_held

-- a DATA packet against what its message holds; a drop that is not benign
-- marks the message (without keys, smt-wire then reports it failed)
local function data_packet(d, p, res, pnum)
	local reason, violation = data_packet_held(d, p, res, pnum)
	local m = d.msgs[tostring(p.msg_id)]
	if reason and violation ~= false and m then
		m.reason = reason
	end
	return reason, violation
end

function data_packet_held(d, p, res, pnum)
	local key = tostring(p.msg_id)
	local m = d.msgs[key]
	if not m then
		m = { key = key, id = p.msg_id, hi = p.hi, lo = p.lo, recs = {},
			fails = {}, status = "incomplete", packets = 0, frames = {} }
		d.msgs[key] = m
	end
	m.packets = m.packets + 1
	if m.status == "ok" then
		return "duplicate", false
	end
	if not d.aead and m.status ~= "incomplete" then
		res.dup = true -- no key: bytes held, nothing to drop
		return nil
	end
	if m.status == "failed" then -- as libsmt: start the message afresh
		m.recs, m.msg_len, m.status = {}, nil, "incomplete"
	end
	if d.aead and p.lo % 2 == 0 and not win_check(d.req, p.msg_id, 8192) then
		return "request_replay"
	end
	if m.msg_len and m.msg_len ~= p.msg_len then
		return "msg_len_mismatch"
	end
	m.msg_len = p.msg_len
	local rec = m.recs[p.rec_idx]
	if rec and rec.seg_off ~= p.seg_off then
		return "seg_off_mismatch"
	end
	if not rec then
		rec = { seg_off = p.seg_off, segs = {}, frames = {} }
		m.recs[p.rec_idx] = rec
	end
	if rec.done then -- verified records are final (section 8.7)
		m.frames[#m.frames + 1] = pnum
		return nil
	end
	local data = p.payload
	-- with keys, as libsmt: a record's bytes are decrypted as they come in
	-- order, and only those ahead of a gap are held to compare
	rec_cover(rec) -- sorts the segments
	local from = d.aead and rec_taken(rec) or rec.seg_off
	if rec_conflict(rec, p.pkt_off, data, from) then
		return "bytes_mismatch"
	end
	if p.pkt_off == p.seg_off then
		rec.wlen = 5 + sbyte(data, 4) * 256 + sbyte(data, 5)
	end
	if rec.wlen then
		for _, s in ipairs(rec.segs) do
			if s.off + #s.data > rec.seg_off + rec.wlen then
				return "past_record"
			end
		end
		if p.pkt_off + #data > rec.seg_off + rec.wlen then
			return "past_record"
		end
	end
	local before = rec_cover(rec)
	rec.segs[#rec.segs + 1] = { off = p.pkt_off, data = data }
	local after = rec_cover(rec)
	if after == before then
		table.remove(rec.segs)
		res.dup = true
	end
	rec.frames[#rec.frames + 1] = pnum
	m.frames[#m.frames + 1] = pnum
	if not rec.wlen or after < rec.wlen then
		return nil
	end
	local reason = rec_complete(d, m, p.rec_idx, rec, res, pnum)
	if reason then
		return reason
	end
	local content, why = msg_chain(d, m)
	if why and not d.aead then -- a layout, not a packet, is wrong
		m.status = "failed"
		res.msg = { status = "failed", records = 0, packets = m.packets,
			frames = frame_list(m.frames) }
		return nil
	elseif why then
		m.status = "failed"
		return why
	end
	if content then
		return msg_finish(d, m, res, pnum, content)
	end
	return nil
end

local function control_packet(d, tvb, len, res)
	local seq_hi = tvb(len - 24, 4):uint()
	if not d.aead then
		res.ctl_status = "unverified"
		return nil
	end
	local seq = tvb(len - 24, 8):uint64()
	if seq_hi >= 0x80000000 or (seq_hi == 0 and tvb(len - 20, 4):uint() == 0)
		then
		res.ctl_status = "control_replay"
		return "control_replay"
	end
	local taken = not win_check(d.ctl, seq, 1024)
	-- AEAD of nothing, seq = 2^63 | ctl_seq, AD = header .. ctl_seq, csum 0
	local raw = tvb:raw(0, len)
	local aad = raw:sub(1, 16) .. "\0\0" .. raw:sub(19, len - 16)
	local seq8 = schar(bor(rshift(seq_hi, 24), 0x80)) .. raw:sub(len - 22,
		len - 16)
	local genuine = d.aead:open(nonce_of(d.iv, seq8), aad, "",
		raw:sub(len - 15))
	if taken and genuine then
		-- the sender's own packet again (a ctl_seq is never reused): a
		-- network duplicate, counted, not a violation (protocol.md 3.4)
		res.ctl_status = "duplicate"
		return "duplicate"
	elseif taken then
		res.ctl_status = "control_replay"
		return "control_replay"
	elseif not genuine then
		res.ctl_status = "control_auth_failed"
		return "control_auth_failed"
	end
	local typ = tvb(13, 1):uint()
	local bad = tvb(4, 4):uint() ~= 0 or tvb(8, 4):uint() ~= 0 or
		tvb(18, 2):uint() ~= 0 or tvb(28, 4):uint() ~= 0 or
		tvb(32, 4):uint() ~= 0 or tvb(38, 2):uint() ~= 0 or
		tvb(36, 1):uint() > 7 or
		(typ == 0x18 and (tvb(20, 4):uint() ~= 0 or tvb(24, 4):uint() ~= 0))
	if typ == 0x11 then
		bad = bad or tvb(44, 1):uint() > 7 or tvb(45, 3):uint() ~= 0
	elseif typ == 0x12 then
		bad = bad or tvb(48, 1):uint() > 7 or tvb(49, 3):uint() ~= 0
	end
	if bad then
		res.ctl_status = "bad_control_fields"
		return "bad_control_fields"
	end
	win_mark(d.ctl, seq)
	res.ctl_status = "ok"
	return nil
end

local function fmt_hp(a, port)
	if a:find(":") then
		return "[" .. a .. "]:" .. port
	end
	return a .. ":" .. port
end

-- everything the first pass learns about one SMT packet
local function analyze(tvb, pinfo, encap)
	local len = tvb:len()
	local res = { encap = encap }
	frames[pinfo.number] = res
	local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
	local sp, dp
	if encap == "udp" then
		sp, dp = pinfo.src_port, pinfo.dst_port
	elseif len >= 4 then
		sp, dp = tvb(0, 2):uint(), tvb(2, 2):uint()
	end
	res.flow = fmt_hp(src, sp or 0) .. " > " .. fmt_hp(dst, dp or 0)
	local fo = { f_ip_frag() }
	local mfs = { f_ip_mf() }
	if (#fo > 0 and fo[#fo].value > 0) or (#mfs > 0 and mfs[#mfs].value) then
		res.drop = "ip_fragment"
		return res
	end
	if encap == "udp" and len >= 40 and (tvb(0, 2):uint() ~= sp or
		tvb(2, 2):uint() ~= dp) then
		res.drop = "udp_port_mismatch"
		res.detail = string.format("SMT ports %d > %d, UDP ports %d > %d",
			tvb(0, 2):uint(), tvb(2, 2):uint(), sp, dp)
		return res
	end
	local lim = { B = smt.prefs.bits, M = smt.prefs.max_msg,
		P = smt.prefs.max_pad }
	local s, from_client
	if #sessions > 0 then
		s, from_client = find_session(src, sp, dst, dp, nil)
		if s then
			lim = { B = s.B, M = s.M, P = s.P }
		end
	end
	local ipv4_id
	if encap == "ip" and not src:find(":") then
		local ids = { f_ip_id() }
		ipv4_id = #ids > 0 and ids[#ids].value or nil
	end
	local reason, real_off = stateless(tvb, len, lim, ipv4_id)
	if reason then
		res.drop = reason
		return res
	end
	res.real_off = real_off
	local epoch = tvb(37, 1):uint()
	s = nil
	if #sessions > 0 then
		local why
		s, why = find_session(src, sp, dst, dp, epoch)
		if not s then
			res.drop = why
			return res
		end
		from_client = why
		res.session = string.format("key log line %d, %s, %s key", s.line,
			s.cipher, from_client and "client" or "server")
	end
	local key = table.concat({ encap, src, sp, dst, dp, epoch }, "|")
	local d = get_dir(key, s, from_client, lim)
	if tvb(13, 1):uint() ~= 0x10 then
		res.drop = control_packet(d, tvb, len, res)
		res.benign = res.drop == "duplicate"
		return res
	end
	local p = {
		msg_id = tvb(20, 8):uint64(), hi = tvb(20, 4):uint(),
		lo = tvb(24, 4):uint(), msg_len = tvb(28, 4):uint(),
		seg_off = tvb(8, 4):uint(), pkt_off = real_off,
		rec_idx = tvb(18, 2):uint(), payload = tvb:raw(40, len - 40),
	}
	local violation
	res.drop, violation = data_packet(d, p, res, pinfo.number)
	if res.drop then
		res.benign = violation == false
	end
	return res
end

-- ---- the tree --------------------------------------------------------------

local function add_header(t, tvb, len)
	local typ = tvb(13, 1):uint()
	t:add(pf.sport, tvb(0, 2))
	t:add(pf.dport, tvb(2, 2))
	t:add(pf.port, tvb(0, 2)):set_hidden()
	t:add(pf.port, tvb(2, 2)):set_hidden()
	t:add(pf.pkt_off, tvb(4, 4))
	t:add(pf.seg_off, tvb(8, 4))
	local dv = t:add(pf.doff_ver, tvb(12, 1))
	dv:add(pf.hdr_len, tvb(12, 1))
	dv:add(pf.version, tvb(12, 1))
	t:add(pf.type, tvb(13, 1))
	local fl = t:add(pf.flags, tvb(14, 2))
	fl:add(pf.f_retransmit, tvb(14, 2))
	fl:add(pf.f_ipid_off, tvb(14, 2))
	t:add(pf.csum, tvb(16, 2))
	t:add(pf.rec_idx, tvb(18, 2))
	t:add(pf.msg_id, tvb(20, 8))
	if typ == 0x10 or typ == 0x17 then
		t:add(pf.response, tvb(27, 1), tvb(27, 1):uint() % 2 == 1)
			:set_generated()
	end
	t:add(pf.msg_len, tvb(28, 4))
	t:add(pf.granted, tvb(32, 4))
	t:add(pf.prio, tvb(36, 1))
	t:add(pf.epoch, tvb(37, 1))
	t:add(pf.pkt_idx, tvb(38, 2))
	return typ
end

local function add_control(t, tvb, len, typ)
	if typ == 0x11 and len >= 48 then
		t:add(pf.c_offset, tvb(40, 4))
		t:add(pf.c_prio, tvb(44, 1))
		t:add(pf.c_zero, tvb(45, 3))
	elseif typ == 0x12 and len >= 52 then
		t:add(pf.c_offset, tvb(40, 4))
		t:add(pf.c_length, tvb(44, 4))
		t:add(pf.c_prio, tvb(48, 1))
		t:add(pf.c_zero, tvb(49, 3))
	elseif typ == 0x18 and len >= 42 then
		t:add(pf.ack_count, tvb(40, 2))
		local n = tvb(40, 2):uint()
		for i = 0, n - 1 do
			if 42 + 8 * i + 8 > len - 24 then
				break
			end
			t:add(pf.ack_id, tvb(42 + 8 * i, 8))
		end
	end
	if len >= 64 then
		t:add(pf.ctl_seq, tvb(len - 24, 8))
		t:add(pf.tag, tvb(len - 16, 16))
	end
end

local function add_data(t, tvb, len, res)
	local plen = len - 40
	t:add(pf.payload_len, tvb(40), plen):set_generated()
	if res.real_off and res.real_off ~= tvb(4, 4):uint() then
		t:add(pf.real_off, res.real_off):set_generated()
	end
	if plen > 0 then
		if tvb(4, 4):uint() == tvb(8, 4):uint() and plen >= 5 then
			local rh = t:add(pf.rec_hdr, tvb(40, 5))
			rh:add(pf.rec_type, tvb(40, 1))
			rh:add(pf.rec_ver, tvb(41, 2))
			rh:add(pf.rec_len, tvb(43, 2))
		end
		t:add(pf.payload, tvb(40))
	end
end

local function add_analysis(t, tvb, pinfo, res)
	t:add(pf.encap, res.encap):set_generated()
	t:add(pf.flow, res.flow):set_generated()
	if res.session then
		t:add(pf.session, res.session):set_generated()
	elseif #sessions == 0 then
		t:add_proto_expert_info(ex.nokey, keylog_error or
			"no key log: records are not decrypted, tags not verified")
	end
	if res.ctl_status then
		t:add(pf.ctl_status, res.ctl_status):set_generated()
	end
	if res.drop then
		local di = t:add(pf.drop, res.drop):set_generated()
		di:add(pf.violation, not res.benign):set_generated()
		local text = res.drop .. " (" .. (res.detail or DROPS[res.drop] or
			"") .. ")"
		t:add_proto_expert_info(res.benign and ex.benign or ex.drop,
			"dropped: " .. text)
	end
	if res.rec_in and res.rec_in ~= pinfo.number then
		t:add(pf.rec_in, res.rec_in):set_generated()
	end
	if res.msg_in and res.msg_in ~= pinfo.number then
		t:add(pf.msg_in, res.msg_in):set_generated()
	end
	local r = res.rec
	if r then
		local rt = t:add(pf.record, r.k):set_generated()
		rt:add(pf.rec_status, r.status):set_generated()
		rt:add(pf.rec_wire, r.wire_len):set_generated()
		rt:add(pf.rec_frames, table.concat(r.frames, ",")):set_generated()
		if r.content then
			rt:add(pf.rec_content_len, #r.content):set_generated()
			rt:add(pf.rec_pad, r.pad):set_generated()
			if #r.content > 0 then
				local ct = ByteArray.new(r.content, true):tvb(
					"Decrypted record " .. r.k)
				rt:add(pf.rec_content, ct())
			end
		end
	end
	local m = res.msg
	if m then
		local mt = t:add(pf.msg_status, m.status):set_generated()
		mt:add(pf.msg_records, m.records):set_generated()
		mt:add(pf.msg_packets, m.packets):set_generated()
		mt:add(pf.msg_frames, table.concat(m.frames, ",")):set_generated()
		if m.app_len then
			mt:add(pf.app_len, m.app_len):set_generated()
			local fi = mt:add(pf.inner_flags, m.flags):set_generated()
			fi:add(pf.oneway, m.flags):set_generated()
		end
		if m.data and #m.data > 0 then
			local mtvb = ByteArray.new(m.data, true):tvb("SMT message")
			mt:add(pf.app_data, mtvb())
		end
		t:add_proto_expert_info(ex.msg, "message " .. m.status .. " (" ..
			m.records .. " records, " .. m.packets .. " packets)")
	end
end

local function dissect(tvb, pinfo, tree, encap)
	local len = tvb:len()
	pinfo.cols.protocol = encap == "udp" and "SMT/UDP" or "SMT"
	local res = frames[pinfo.number]
	if not pinfo.visited or not res then
		res = analyze(tvb, pinfo, encap)
	end
	local t = tree:add(smt, tvb(), "Secure Message Transport")
	local info
	if len >= 40 then
		local typ = add_header(t, tvb, len)
		info = string.format("%s msg_id=%s epoch=%d", TYPES[typ] or
			string.format("type 0x%02x", typ), tostring(tvb(20, 8):uint64()),
			tvb(37, 1):uint())
		if typ == 0x10 then
			add_data(t, tvb, len, res)
			info = info .. string.format(" rec=%d off=%d len=%d msg_len=%d",
				tvb(18, 2):uint(), res.real_off or tvb(4, 4):uint(), len - 40,
				tvb(28, 4):uint())
		else
			add_control(t, tvb, len, typ)
		end
	else
		info = "short SMT packet"
	end
	add_analysis(t, tvb, pinfo, res)
	if res.drop then
		info = info .. " [" .. res.drop .. "]"
	end
	if res.msg then
		info = info .. " [message " .. res.msg.status .. "]"
	end
	pinfo.cols.info = info
	return len
end

function smt.dissector(tvb, pinfo, tree)
	-- through ip.proto natively, through udp.port for configured ranges
	local encap = pinfo.port_type == 3 and "udp" or "ip"
	return dissect(tvb, pinfo, tree, encap)
end

-- section 1.1 checks 3 and 4 (the port check is the ranges' business)
local function heur_udp(tvb, pinfo, tree)
	if not smt.prefs.udp_heur or tvb:len() < 40 or
		tvb(12, 1):uint() ~= 0xA1 then
		return false
	end
	dissect(tvb, pinfo, tree, "udp")
	return true
end

local registered = {}

local function register()
	local ipt = DissectorTable.get("ip.proto")
	local udpt = DissectorTable.get("udp.port")
	if registered.proto then
		ipt:remove(registered.proto, smt)
	end
	if registered.ports then
		udpt:remove(registered.ports, smt)
	end
	local p = smt.prefs.ipproto
	if p ~= 17 and p ~= 6 and p ~= 0 and p < 256 then
		ipt:add(p, smt)
		registered.proto = p
	end
	registered.ports = nil
	local r = smt.prefs.udp_ports
	if r and tostring(r) ~= "" then
		udpt:add(r, smt)
		registered.ports = r
	end
end

function smt.prefs_changed()
	register()
end

register()
smt:register_heuristic("udp", heur_udp)
