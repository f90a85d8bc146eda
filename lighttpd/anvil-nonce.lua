-- anvil-nonce.lua - lighttpd mod_magnet: answer HEAD and GET of
-- <prefix>/new-nonce inside lighttpd, with no round trip to anvil.
--
-- Anvil's nonces need no database write to hand out (src/acme/nonce.c):
-- base64url(time (milliseconds since the epoch, 8 bytes, big-endian) ||
-- random (8) || the first 16 bytes of HMAC-SHA256 of those 16 under
-- DATA/nonce.key). This script mints the
-- same thing with the same key; anvil checks and spends it as one of its
-- own. Whenever it cannot (no key yet: anvil makes it on its first start;
-- a key of the wrong size; another method), it returns nothing and the
-- request goes on to anvil as before.
--
-- Set by lighttpd/anvil-nonce.conf through the request environment:
--   ANVIL_NONCE_KEY      path of DATA/nonce.key
--   ANVIL_DIRECTORY_URL  the directory URL, for Link: rel="index"

local method = lighty.r.req_attr["request.method"]
if method ~= "HEAD" and method ~= "GET" then
	return 0
end
local env = lighty.r.req_env
local path = env["ANVIL_NONCE_KEY"]
if path == nil or path == "" then
	return 0
end
-- The key is read once and kept (package.loaded outlives the request;
-- the script's own globals do not), and read again when lighttpd's stat
-- cache shows the file replaced.
local st = lighty.stat(path)
if st == nil then
	return 0
end
local ino, mtime = st["st_ino"], st["st_mtime"]
local keep = package.loaded["anvil-nonce"]
if keep == nil or keep.path ~= path or keep.ino ~= ino or
    keep.mtime ~= mtime then
	local f = io.open(path, "rb")
	if f == nil then
		return 0
	end
	local k = f:read(33)
	f:close()
	if k == nil or #k ~= 32 then
		return 0
	end
	keep = { path = path, ino = ino, mtime = mtime, key = k }
	package.loaded["anvil-nonce"] = keep
end
local key = keep.key

-- lighty.c.rand() is lighttpd's generator, seeded from the kernel; the
-- random half makes nonces minted in one millisecond distinct, the MAC is what
-- makes them unforgeable.
local sec, nsec = lighty.c.hrtime()
local msg = string.pack(">i8I4I4", sec * 1000 + nsec // 1000000,
    lighty.c.rand() & 0xffffffff, lighty.c.rand() & 0xffffffff)
local mac = lighty.c.hexdec(lighty.c.hmac("sha256", key, msg)):sub(1, 16)

local h = lighty.r.resp_header
h["Replay-Nonce"] = lighty.c.b64urlenc(msg .. mac)
h["Cache-Control"] = "no-store"
local dir = env["ANVIL_DIRECTORY_URL"]
if dir ~= nil and dir ~= "" then
	h["Link"] = "<" .. dir .. ">;rel=\"index\""
end
-- RFC 8555 7.2: 200 for HEAD, 204 for GET.
if method == "HEAD" then
	return 200
end
return 204
