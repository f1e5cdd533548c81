-- SPDX-License-Identifier: BSD-2-Clause
--
-- Published vectors for the dissector's plain-Lua ciphers: FIPS 197 C.1 and
-- C.3 (AES), the GCM specification's test cases 2, 4 and 16 (McGrew and
-- Viega; also in NIST's GCM validation set), RFC 8439 2.3.2 (ChaCha20
-- block), 2.5.2 and A.3 #5/#6 (Poly1305), 2.8.2 (AEAD). Each is opened and
-- sealed, and a flipped bit of tag, ciphertext or additional data must
-- fail. Runs inside tshark after smt.lua (which leaves its ciphers in the
-- global SMT_LUA) or with a plain lua5.2: lua5.2 vectors.lua path/smt.lua.
-- Prints "vectors: N passed, M failed".

local crypto
if SMT_LUA then
	crypto = SMT_LUA.crypto
else
	crypto = dofile(arg[1])
end

local pass, fail = 0, 0

local function hex(h)
	return (h:gsub("%s", ""):gsub("..", function(x)
		return string.char(tonumber(x, 16))
	end))
end

local function tohex(s)
	return (s:gsub(".", function(c)
		return string.format("%02x", c:byte())
	end))
end

local function check(name, got, want)
	if got == want then
		pass = pass + 1
	else
		fail = fail + 1
		print("FAIL " .. name .. ": got " .. (got and tohex(got) or "nil") ..
			" want " .. (want and tohex(want) or "nil"))
	end
end

local function flip(s, i)
	return s:sub(1, i - 1) .. string.char(bit32.bxor(s:byte(i), 1)) ..
		s:sub(i + 1)
end

-- aead NAME CIPHER KEY NONCE AAD PT CT TAG
local function aead(name, cipher, key, nonce, aad, pt, ct, tag)
	key, nonce, aad, pt, ct, tag = hex(key), hex(nonce), hex(aad), hex(pt),
		hex(ct), hex(tag)
	local a = crypto.aead(cipher, key)
	local c, t = a:seal(nonce, aad, pt)
	check(name .. " seal ct", c, ct)
	check(name .. " seal tag", t, tag)
	check(name .. " open", a:open(nonce, aad, ct, tag), pt)
	check(name .. " bad tag", a:open(nonce, aad, ct, flip(tag, 16)), nil)
	if #ct > 0 then
		check(name .. " bad ct", a:open(nonce, aad, flip(ct, #ct), tag), nil)
	end
	if #aad > 0 then
		check(name .. " bad aad", a:open(nonce, flip(aad, 1), ct, tag), nil)
	end
	check(name .. " bad nonce", a:open(flip(nonce, 12), aad, ct, tag), nil)
end

-- FIPS 197 appendix C
check("aes128 C.1", crypto.aes_encrypt(hex("000102030405060708090a0b0c0d0e0f"),
	hex("00112233445566778899aabbccddeeff")),
	hex("69c4e0d86a7b0430d8cdb78070b4c55a"))
check("aes256 C.3", crypto.aes_encrypt(
	hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
	hex("00112233445566778899aabbccddeeff")),
	hex("8ea2b7ca516745bfeafc49904b496089"))

-- GCM test case 2: zero key, one zero block
aead("gcm tc2", "TLS_AES_128_GCM_SHA256", "00000000000000000000000000000000",
	"000000000000000000000000", "", "00000000000000000000000000000000",
	"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf")

local P4 = [[d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
	1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39]]
local A4 = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
-- GCM test case 4: additional data, a partial last block
aead("gcm tc4", "TLS_AES_128_GCM_SHA256", "feffe9928665731c6d6a8f9467308308",
	"cafebabefacedbaddecaf888", A4, P4,
	[[42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
	21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091]],
	"5bc94fbc3221a5db94fae95ae7121a47")
-- GCM test case 16: the same with a 256-bit key
aead("gcm tc16", "TLS_AES_256_GCM_SHA384",
	"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	"cafebabefacedbaddecaf888", A4, P4,
	[[522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
	8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662]],
	"76fc6ece0f4e1768cddf8853bb2d551b")

-- RFC 8439 2.3.2: one ChaCha20 block
do
	local w = crypto.chacha_block(
		hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
		1, hex("000000090000004a00000000"))
	local s = {}
	for i = 1, 16 do
		s[i] = string.format("%08x", w[i])
	end
	check("chacha20 2.3.2", table.concat(s, " "), [[e4e7f110 15593bd1 1fdd0f50 c47120a3 c7f4d1c7 0368c033 9aaa2204 4e6cd4c3 466482d2 09aa9f07 05d7c214 a2028bd9 d19c12b5 b94e16de e883d0cb 4e3c50a2]])
end

-- RFC 8439 2.5.2 and A.3 #5, #6 (h reaching p, s carrying out)
check("poly1305 2.5.2", crypto.poly1305(hex(
	"85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"),
	"Cryptographic Forum Research Group"),
	hex("a8061dc1305136c6c22b8baf0c0127a9"))
check("poly1305 A.3#5", crypto.poly1305(hex(
	"0200000000000000000000000000000000000000000000000000000000000000"),
	hex("ffffffffffffffffffffffffffffffff")),
	hex("03000000000000000000000000000000"))
check("poly1305 A.3#6", crypto.poly1305(hex(
	"02000000000000000000000000000000ffffffffffffffffffffffffffffffff"),
	hex("02000000000000000000000000000000")),
	hex("03000000000000000000000000000000"))

-- RFC 8439 2.8.2: the AEAD
aead("chacha20poly1305 2.8.2", "TLS_CHACHA20_POLY1305_SHA256",
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	"070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
	tohex("Ladies and Gentlemen of the class of '99: If I could offer you " ..
		"only one tip for the future, sunscreen would be it."),
	[[d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
	3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
	92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
	3ff4def08e4b7a9de576d26586cec64b6116]],
	"1ae10b594f09e26a7e902ecbd0600691")

-- a key of the wrong length has no cipher
check("bad key length", crypto.aead("TLS_AES_256_GCM_SHA384",
	hex("000102030405060708090a0b0c0d0e0f")), nil)

print(string.format("vectors: %d passed, %d failed", pass, fail))
if not SMT_LUA and fail > 0 then
	os.exit(1)
end
