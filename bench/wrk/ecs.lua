-- wrk script: one ECS operation over AWS JSON 1.1, the same request every time.
-- usage: wrk ... -s bench/wrk/ecs.lua URL -- OPERATION BODY_FILE
local request_bytes

function init(args)
  local operation, body_file = args[1], args[2]
  local file = assert(io.open(body_file, "r"))
  local body = file:read("*a")
  file:close()
  local headers = {
    ["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113." .. operation,
    ["Content-Type"] = "application/x-amz-json-1.1",
    -- A SigV4-shaped header: berth reads the region from it, moto the service name.
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20261123/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-target, Signature=0",
  }
  request_bytes = wrk.format("POST", "/", headers, body)
end

function request()
  return request_bytes
end
