-- anvil-ocsp.lua - lighttpd mod_magnet: answer GET <prefix>/ocsp/<base64>
-- (RFC 5019 A.1) from the answers anvil-crl pre-signed, with no round
-- trip to anvil.
--
-- anvil-crl writes the answer to the request an RFC 5019 client sends at
-- <[ocsp] dir>/<base64 of the request> (src/publish/ocsp.c), so the path
-- after <prefix>/ocsp/, percent-decoded, names the file. An
-- answer older than [ocsp] validity_hours is past its nextUpdate: then,
-- as for a request with no file (a nonce, another encoding, a POST), the
-- script returns nothing and the request goes on to anvil, which signs
-- live.
--
-- Set by lighttpd/anvil-ocsp.conf through the request environment:
--   ANVIL_OCSP_DIR       [ocsp] dir
--   ANVIL_OCSP_PREFIX    <prefix>/ocsp/
--   ANVIL_OCSP_VALIDITY  [ocsp] validity_hours, in seconds

local method = lighty.r.req_attr["request.method"]
if method ~= "GET" and method ~= "HEAD" then
	return 0
end
local env = lighty.r.req_env
local dir, prefix = env["ANVIL_OCSP_DIR"], env["ANVIL_OCSP_PREFIX"]
local validity = tonumber(env["ANVIL_OCSP_VALIDITY"] or "")
if dir == nil or dir == "" or prefix == nil or validity == nil then
	return 0
end
-- uri.path is already cut to the FastCGI prefix here: decode the raw
-- path instead (RFC 5019 A.1 allows the base64 to be percent-encoded).
local raw = lighty.r.req_attr["uri.path-raw"]
if raw == nil then
	return 0
end
local path = lighty.c.urldec(raw)
if path == nil or path:sub(1, #prefix) ~= prefix then
	return 0
end
-- Runs of '/' as one, as anvil-crl names the files (and Apache merges).
local b64 = path:sub(#prefix + 1):gsub("/+", "/")
-- Only base64, no empty segment: the name can only be one anvil-crl
-- wrote, never "..", never outside dir.
if #b64 == 0 or #b64 > 12000 or b64:find("[^A-Za-z0-9+/=]") or
    b64:sub(1, 1) == "/" or b64:sub(-1) == "/" then
	return 0
end
local file = dir .. "/" .. b64
local st = lighty.stat(file)
if st == nil or not st["is_file"] then
	return 0
end
local left = st["st_mtime"] + validity - os.time()
if left <= 0 then
	return 0
end
-- Read here rather than handed to lighttpd by name: lighttpd keeps files
-- it sent open for a moment, and a revocation has just replaced this one
-- (a new file renamed over it) and must be seen at once.
local f = io.open(file, "rb")
if f == nil then
	return 0
end
local body = f:read(65536)
f:close()
if body == nil or #body == 0 then
	return 0
end
local h = lighty.r.resp_header
h["Content-Type"] = "application/ocsp-response"
-- RFC 5019 6.2: cacheable until nextUpdate.
h["Cache-Control"] = "max-age=" .. left .. ", public, no-transform, must-revalidate"
h["Last-Modified"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", st["st_mtime"])
h["Expires"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", st["st_mtime"] + validity)
lighty.r.resp_body.set({ body })
return 200
