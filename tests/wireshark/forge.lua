-- SPDX-License-Identifier: BSD-2-Clause
--
-- Forge authentic-but-wrong SMT packets that smt-wire encode cannot make,
-- with the dissector's own ciphers (SMT_LUA.crypto, loaded by smt.lua
-- before this script), so that smt-wire decode and the dissector can be
-- compared on drop reasons found only after decryption: truncated,
-- bad_inner, bad_control_fields. Runs inside tshark at load time:
--   tshark -X lua_script:smt.lua -X lua_script:forge.lua \
--     -X lua_script2:IN -X lua_script2:OUT -X lua_script2:CIPHER \
--     -X lua_script2:KEYHEX -X lua_script2:IVHEX -X lua_script2:B \
--     -X lua_script2:OP ... -r IN
-- IN is a little-endian RAW pcap of native IPv4 SMT (smt-wire encode's).
-- OP: rec:N:OFF=HEX rewrites the plaintext of packet N (a one-packet
-- message of one record) at OFF (0 = the inner header) and seals it again;
-- ctl:N:OFF=HEX rewrites control packet N at SMT offset OFF and tags it
-- again. Prints "forge: N packets rewritten" or "forge: error ...".

local args = { ... }
local crypto = SMT_LUA and SMT_LUA.crypto
local bxor = bit32.bxor

local function hex(h)
	return (h:gsub("..", function(x)
		return string.char(tonumber(x, 16))
	end))
end

local function put(s, off, bytes) -- 0-based offset
	return s:sub(1, off) .. bytes .. s:sub(off + #bytes + 1)
end

local function nonce(iv, seq8)
	local t = {}
	for i = 1, 12 do
		t[i] = string.char(bxor(iv:byte(i), i > 4 and seq8:byte(i - 4) or 0))
	end
	return table.concat(t)
end

local function be(s, i, n)
	local v = 0
	for j = 0, n - 1 do
		v = v * 256 + s:byte(i + j)
	end
	return v
end

local function run()
	if not crypto then
		return "SMT_LUA.crypto missing: load smt.lua first"
	end
	local fin, fout, cipher, key, iv, B = args[1], args[2], args[3],
		hex(args[4] or ""), hex(args[5] or ""), tonumber(args[6])
	local aead = crypto.aead(cipher or "", key)
	if not aead or #iv ~= 12 or not B then
		return "bad cipher, key, iv or B"
	end
	local f = io.open(fin, "rb")
	if not f then
		return "cannot read " .. tostring(fin)
	end
	local d = f:read("*a")
	f:close()
	local pkts, off = {}, 25
	while off + 16 <= #d do
		local n = d:byte(off + 8) + 256 * d:byte(off + 9) +
			65536 * d:byte(off + 10)
		pkts[#pkts + 1] = { hdr = d:sub(off, off + 15),
			data = d:sub(off + 16, off + 15 + n) }
		off = off + 16 + n
	end
	local done = 0
	for i = 7, #args do
		local kind, n, o, h = args[i]:match("^(%a+):(%d+):(%d+)=(%x+)$")
		local p = n and pkts[tonumber(n)]
		if not p then
			return "bad operation " .. args[i]
		end
		local ip = p.data:sub(1, 20)
		local smt = p.data:sub(21)
		o = tonumber(o)
		if kind == "rec" then
			-- seq = msg_id << (64 - B) | 0: msg_id below 2^32 here
			local id = be(smt, 25, 4)
			local s = 64 - B
			local hi = bit32.rshift(id, 32 - s)
			local lo = bit32.lshift(id, s)
			local seq = string.char(bit32.rshift(hi, 24),
				bit32.band(bit32.rshift(hi, 16), 255),
				bit32.band(bit32.rshift(hi, 8), 255), bit32.band(hi, 255),
				bit32.rshift(lo, 24),
				bit32.band(bit32.rshift(lo, 16), 255),
				bit32.band(bit32.rshift(lo, 8), 255), bit32.band(lo, 255))
			local rec = smt:sub(41)
			local nn = nonce(iv, seq)
			local pt = aead:open(nn, rec:sub(1, 5), rec:sub(6, #rec - 16),
				rec:sub(#rec - 15))
			if not pt then
				return "packet " .. n .. " does not open"
			end
			local ct, tag = aead:seal(nn, rec:sub(1, 5), put(pt, o, hex(h)))
			smt = smt:sub(1, 40) .. rec:sub(1, 5) .. ct .. tag
		elseif kind == "ctl" then
			smt = put(smt, o, hex(h))
			local len = #smt
			local aad = smt:sub(1, 16) .. "\0\0" .. smt:sub(19, len - 16)
			local seq8 = string.char(bit32.bor(smt:byte(len - 23), 0x80)) ..
				smt:sub(len - 22, len - 16)
			local _, tag = aead:seal(nonce(iv, seq8), aad, "")
			smt = smt:sub(1, len - 16) .. tag
		else
			return "bad operation " .. args[i]
		end
		p.data = ip .. smt
		done = done + 1
	end
	f = io.open(fout, "wb")
	if not f then
		return "cannot write " .. tostring(fout)
	end
	f:write(d:sub(1, 24))
	for _, p in ipairs(pkts) do
		f:write(p.hdr, p.data)
	end
	f:close()
	print("forge: " .. done .. " packets rewritten")
end

local e = run()
if e then
	print("forge: error " .. e)
end
