"""The shared formats every part of sgtm-companion reads and writes: the tracking plan (model,
loader, errors), the contract a plan compiles to (event envelope and schemas, policy) and the
sGTM `.tpl` template file. Nothing here imports generator, runtime, sidecar, ops or sgtm."""
