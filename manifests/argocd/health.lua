-- Argo CD health of a crmsync.dev/v1alpha1 resource, by the kstatus rules the operator
-- writes its status for (sigs.k8s.io/cli-utils/pkg/kstatus): a generation not observed
-- yet or a Reconciling condition is Progressing, a Stalled condition (a spec error) is
-- Degraded, Ready=True is Healthy, Ready=False/Unknown is Progressing (waiting for a
-- Connection, a Secret, the vendor). A suspended sync is Suspended.
-- Written for Argo CD's Lua 5.1 (gopher-lua); the object is the global `obj`.
local hs = {}
local kind = obj.kind or ""
if kind == "FieldMapping" or kind == "OptOutPolicy" then
  hs.status = "Healthy"
  hs.message = kind .. " is configuration read by the syncs that use it"
  return hs
end
if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe the " .. kind
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = kind .. " generation " .. tostring(generation) ..
    " is not observed yet (observed: " .. tostring(observed) .. ")"
  return hs
end
local conditions = obj.status.conditions or {}
local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end
for _, c in ipairs(conditions) do
  if c.type == "Reconciling" and c.status == "True" then
    hs.status = "Progressing"
    hs.message = describe(c)
    return hs
  end
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = describe(c)
    return hs
  end
end
for _, c in ipairs(conditions) do
  if c.type == "Suspended" and c.status == "True" then
    hs.status = "Suspended"
    hs.message = describe(c)
    return hs
  end
end
for _, c in ipairs(conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    else
      hs.status = "Progressing"
    end
    hs.message = describe(c)
    return hs
  end
end
hs.status = "Healthy"
hs.message = "observed; no Ready condition"
return hs
