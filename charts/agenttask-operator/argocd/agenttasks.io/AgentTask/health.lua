-- Argo CD health check for agenttasks.io/AgentTask, from status.phase and status.reason.
-- Uses only the base and table libraries, so it runs in argocd-cm without useOpenLibs.
local hs = {}

-- status.message when the operator wrote one, else a default sentence.
local function describe(status, default)
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  return default
end

if obj.status == nil or obj.status.phase == nil or obj.status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to admit the task"
  return hs
end

local status = obj.status
local phase = status.phase
local reason = status.reason

if phase == "Pending" then
  hs.status = "Progressing"
  hs.message = describe(status, "The task is pending")
elseif phase == "InProgress" then
  hs.status = "Progressing"
  hs.message = describe(status, "The task is running")
elseif phase == "Failed" and reason == "RetryScheduled" then
  -- Not terminal: the operator starts another attempt at status.nextRetryTime.
  hs.status = "Progressing"
  hs.message = describe(status, "The attempt failed; a retry is scheduled")
elseif phase == "Completed" then
  hs.status = "Healthy"
  hs.message = describe(status, "The task completed")
elseif phase == "Failed" then
  hs.status = "Degraded"
  if reason ~= nil and reason ~= "" then
    hs.message = describe(status, "The task failed (" .. reason .. ")")
  else
    hs.message = describe(status, "The task failed")
  end
elseif phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = describe(status, "The task was cancelled")
elseif phase == "Paused" then
  hs.status = "Suspended"
  hs.message = describe(status, "The task is paused")
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
end
return hs
