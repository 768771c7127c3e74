-- Argo CD health check for agenttasks.io/AgentTaskSchedule, from spec.suspend and the Ready
-- condition. Uses only the base and table libraries (no useOpenLibs needed in argocd-cm).
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function text(c, default)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return default
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "The schedule is suspended (spec.suspend: true)"
  return hs
end

local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to evaluate the schedule"
  return hs
end

-- A spec change the operator has not seen yet: the condition describes the old spec.
local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

if ready.status == "True" and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = text(ready, "The schedule is suspended")
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Scheduled")
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = text(ready, "The schedule is not ready")
else
  hs.status = "Progressing"
  hs.message = text(ready, "Waiting for the schedule to become ready")
end
return hs
