-- Runs an Argo CD health script the way Argo CD does: the resource (JSON on stdin) is the
-- global `obj`, the script returns a table with status and message, printed as JSON.
-- Usage: lua5.4 argocd_health.lua SCRIPT < resource.json
local json = require("dkjson")
local document, _, err = json.decode(io.read("a"), 1, nil)
if err then
  error("not JSON: " .. err)
end
obj = document
local script = assert(loadfile(arg[1]))
io.write(json.encode(script()))
