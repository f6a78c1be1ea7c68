-- wrk script of bench.ingest: a Green API incomingMessageReceived webhook per request,
-- each with its own idMessage (and chat), as Green API sends them.
-- Arguments after `--`: run prefix, idInstance, webhook token.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  prefix = args[1]
  instance = args[2]
  headers = {
    ["Authorization"] = "Bearer " .. args[3],
    ["Content-Type"] = "application/json",
    ["X-Forwarded-Proto"] = "https",
  }
  counter = 0
end

function request()
  counter = counter + 1
  local id = string.format("%s%02d%012d", prefix, tid, counter)
  local chat = string.format("79%02d%08d@c.us", tid, counter % 100000000)
  local body = string.format(
    '{"typeWebhook":"incomingMessageReceived",' ..
    '"instanceData":{"idInstance":%s,"wid":"79001230000@c.us","typeInstance":"whatsapp"},' ..
    '"timestamp":%d,"idMessage":"%s",' ..
    '"senderData":{"chatId":"%s","sender":"%s","chatName":"Anna","senderName":"Anna"},' ..
    '"messageData":{"typeMessage":"textMessage","textMessageData":{"textMessage":"My order never arrived"}}}',
    instance, os.time(), id, chat, chat)
  return wrk.format("POST", nil, headers, body)
end
