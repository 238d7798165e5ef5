-- wrk script: one ECS operation over AWS JSON 1.1, the same request every time.
-- usage: wrk ... -s bench/wrk/ecs.lua URL -- OPERATION BODY_FILE [HEADERS_FILE]
-- HEADERS_FILE holds `Name: value` lines (bench/wrk/sign.py's signature); without it the
-- request carries a SigV4-shaped header that only an `--auth none` server or moto accepts.
local request_bytes

function init(args)
  local operation, body_file, headers_file = args[1], args[2], args[3]
  local file = assert(io.open(body_file, "r"))
  local body = file:read("*a")
  file:close()
  local headers = {
    ["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113." .. operation,
    ["Content-Type"] = "application/x-amz-json-1.1",
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20261123/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-target, Signature=0",
  }
  if headers_file then
    for line in io.lines(headers_file) do
      local name, value = line:match("^([^:]+): (.*)$")
      if name then headers[name] = value end
    end
  end
  request_bytes = wrk.format("POST", "/", headers, body)
end

function request()
  return request_bytes
end
