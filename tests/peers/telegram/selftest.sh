#!/usr/bin/env bash
# Self-check of the Telegram peer (telegram-test-api@4.2.1 + Aura's layer), curl based.
# Starts its own server on a free port, checks every fix the layer makes, stops it.
# Needs: node, npm (first run installs node_modules from package-lock.json), curl.
# Exit code 0 = all checks passed. Last line: "N passed, N failed".
set -u
cd "$(dirname "$0")"

if [ ! -d node_modules/telegram-test-api ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2 || { echo "npm ci failed" >&2; exit 1; }
fi

TMP=$(mktemp -d)
PASS=0
FAIL=0
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=0 node server.js >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 100); do
  [ -s "$TMP/out" ] && break
  sleep 0.1
done
READY=$(head -n1 "$TMP/out")
PORT=$(node -e 'const r=JSON.parse(process.argv[1]); if(r.ready!==true) process.exit(1); console.log(r.port)' "$READY" 2>/dev/null) || {
  echo "server did not print the ready line; stdout: '$READY'" >&2; cat "$TMP/err" >&2; exit 1; }
B="http://127.0.0.1:$PORT"
TOKEN="123456:TEST-token"
BOT="$B/bot$TOKEN"
echo "server ready on port $PORT ($READY)"

# post URL JSON -> sets BODY CODE TIME
post() {
  local out
  out=$(curl -s -m 40 -o "$TMP/body" -w '%{http_code} %{time_total}' -H 'content-type: application/json' -X POST "$1" --data-binary "${2:-{\}}")
  CODE=${out%% *}; TIME=${out#* }; BODY=$(cat "$TMP/body")
}
get() {
  local out
  out=$(curl -s -m 40 -o "$TMP/body" -w '%{http_code} %{time_total}' "$1")
  CODE=${out%% *}; TIME=${out#* }; BODY=$(cat "$TMP/body")
}
# check NAME JS-EXPRESSION   (b = parsed BODY, code = HTTP status, t = seconds, v = $VAR)
check() {
  if BODY="$BODY" CODE="$CODE" TIME="$TIME" node -e '
    let b; try { b = JSON.parse(process.env.BODY); } catch (e) { b = undefined; }
    const code = Number(process.env.CODE), t = Number(process.env.TIME), v = process.env.VAR;
    const isInt = (x) => Number.isInteger(x);
    process.exit(eval(process.argv[1]) ? 0 : 1);' "$2" 2>"$TMP/node_err"; then
    PASS=$((PASS + 1)); echo "ok   - $1"
  else
    FAIL=$((FAIL + 1)); echo "FAIL - $1"; echo "       expected: $2"; echo "       got HTTP $CODE in ${TIME}s: ${BODY:0:600}"
    [ -s "$TMP/node_err" ] && sed 's/^/       /' "$TMP/node_err" | head -5
  fi
}
field() { BODY="$BODY" node -e 'const b=JSON.parse(process.env.BODY); console.log(eval(process.argv[1]))' "$1"; }

echo "# getMe / service methods"
post "$BOT/GetMe"
check "getMe has every field teloxide's Me needs" 'code===200 && b.ok && b.result.id===123456 && b.result.is_bot===true && b.result.first_name && b.result.username && b.result.can_join_groups===true && b.result.can_read_all_group_messages===false && b.result.supports_inline_queries===false && b.result.has_main_web_app===false'
post "$BOT/GetWebhookInfo"
check "getWebhookInfo: no webhook" 'code===200 && b.result.url==="" && b.result.has_custom_certificate===false && isInt(b.result.pending_update_count)'
post "$BOT/DeleteWebhook" '{"drop_pending_updates":false}'
check "deleteWebhook -> true" 'code===200 && b.result===true'
post "$BOT/SendChatAction" '{"chat_id":42,"action":"typing"}'
check "sendChatAction -> true" 'code===200 && b.result===true'
post "$BOT/SetMyCommands" '{"commands":[{"command":"status","description":"Show status"}]}'
check "setMyCommands -> true" 'code===200 && b.result===true'
post "$BOT/GetMyCommands"
check "getMyCommands returns what was set" 'code===200 && b.result.length===1 && b.result[0].command==="status"'
post "$BOT/DeleteMyCommands"
check "deleteMyCommands -> true" 'code===200 && b.result===true'
post "$BOT/Close"
check "close -> true" 'code===200 && b.result===true'
post "$BOT/LogOut"
check "logOut -> true" 'code===200 && b.result===true'
post "$BOT/SendSticker" '{"chat_id":42}'
check "unknown method -> 404 Telegram JSON" 'code===404 && b.ok===false && b.error_code===404 && b.description==="Not Found: method not found"'

echo "# getUpdates: long polling"
post "$BOT/GetUpdates" '{"timeout":1}'
check "empty long poll returns [] after ~timeout" 'code===200 && b.ok && b.result.length===0 && t>=0.9 && t<3'
post "$BOT/GetUpdates" '{"timeout":0}'
check "timeout 0 returns at once" 'code===200 && b.result.length===0 && t<0.5'

curl -s -m 40 -o "$TMP/poll" -w '%{http_code} %{time_total}' -H 'content-type: application/json' \
  -X POST "$BOT/GetUpdates" --data-binary '{"timeout":10}' >"$TMP/poll_meta" &
POLL=$!
sleep 0.5
post "$B/sendMessage" '{"botToken":"'"$TOKEN"'","from":{"id":42,"first_name":"Ann","username":"ann"},"chat":{"id":42,"type":"private","first_name":"Ann"},"text":"hello bot"}'
check "client /sendMessage accepted" 'code===200 && b.ok && b.result.update_id>0'
wait "$POLL"
META=$(cat "$TMP/poll_meta"); CODE=${META%% *}; TIME=${META#* }; BODY=$(cat "$TMP/poll")
check "long poll wakes as soon as an update arrives" 'code===200 && b.result.length===1 && t<3'
check "client message arrives as a proper Update" 'const u=b.result[0], m=u.message; isInt(u.update_id) && isInt(m.message_id) && isInt(m.date) && m.date<1e11 && m.chat.id===42 && m.chat.type==="private" && m.chat.first_name==="Ann" && m.from.id===42 && m.from.is_bot===false && m.text==="hello bot" && m.botToken===undefined'
FIRST=$(field 'b.result[0].update_id')

post "$BOT/GetUpdates" '{"timeout":0}'
check "unconfirmed update is delivered again (bot restart)" "code===200 && b.result.length===1 && b.result[0].update_id===$FIRST"

post "$B/sendCommand" '{"botToken":"'"$TOKEN"'","from":{"id":42,"first_name":"Ann"},"chat":{"id":42,"type":"private","first_name":"Ann"},"text":"/status now"}'
check "client /sendCommand accepted" 'code===200 && b.ok'
post "$BOT/GetUpdates" "{\"offset\":$((FIRST + 1)),\"timeout\":5}"
check "offset confirms: only the command is left" "code===200 && b.result.length===1 && b.result[0].update_id>$FIRST && t<1"
check "command carries a bot_command entity" 'const m=b.result[0].message; m.text==="/status now" && m.entities.length===1 && m.entities[0].type==="bot_command" && m.entities[0].offset===0 && m.entities[0].length===7'
CMD=$(field 'b.result[0].update_id')
post "$BOT/GetUpdates" "{\"offset\":$((CMD + 1)),\"timeout\":0}"
check "confirmed updates are gone" 'code===200 && b.result.length===0'
get "$B/_aura/updates"
check "/_aura/updates: nothing pending" 'code===200 && Array.isArray(b) && b.length===0'

echo "# /_aura/update: exact payloads"
RAW='{"message":{"message_id":900,"date":1700000000,"chat":{"id":-1001234,"type":"supergroup","title":"Ops","is_forum":true},"from":{"id":7,"is_bot":false,"first_name":"Bob"},"message_thread_id":77,"is_topic_message":true,"text":"@aura_test_bot deploy","entities":[{"type":"mention","offset":0,"length":14}]}}'
post "$B/_aura/update" "$RAW"
check "/_aura/update returns the next update_id" "code===200 && b.update_id>$CMD"
U1=$(field 'b.update_id')
post "$B/_aura/update" "$RAW"
check "same payload twice gets a new update_id" "code===200 && b.update_id===$U1+1"
post "$BOT/GetUpdates" "{\"offset\":$((CMD + 1)),\"limit\":1}"
check "limit respected" "code===200 && b.result.length===1 && b.result[0].update_id===$U1"
check "raw payload delivered exactly" "JSON.stringify(b.result[0])===JSON.stringify(Object.assign({update_id:$U1}, $RAW))"
post "$BOT/GetUpdates" "{\"offset\":$((U1 + 1)),\"timeout\":0}"
check "second copy still there" "b.result.length===1 && b.result[0].update_id===$U1+1 && b.result[0].message.message_id===900"
post "$BOT/GetUpdates" "{\"offset\":$((U1 + 2)),\"timeout\":0}"

echo "# sendMessage"
post "$BOT/SendMessage" '{"chat_id":-1001234,"text":"deploying","parse_mode":"HTML","message_thread_id":77,"reply_parameters":{"message_id":900},"link_preview_options":{"is_disabled":true},"disable_notification":true}'
check "sendMessage in a forum topic, as a reply" 'const m=b.result; code===200 && isInt(m.message_id) && m.message_id>900 && isInt(m.date) && m.date<1e11 && m.from.is_bot===true && m.from.id===123456 && m.chat.id===-1001234 && m.chat.type==="supergroup" && m.chat.title==="Ops" && m.chat.is_forum===true && m.message_thread_id===77 && m.is_topic_message===true && m.reply_to_message.message_id===900 && m.reply_to_message.text==="@aura_test_bot deploy" && m.text==="deploying"'
post "$BOT/SendMessage" '{"chat_id":42,"text":"Approve deploy?","reply_markup":{"inline_keyboard":[[{"text":"Approve","callback_data":"approve:1"}]]}}'
check "sendMessage with inline keyboard" 'const m=b.result; code===200 && m.chat.type==="private" && m.chat.first_name==="Ann" && m.reply_markup.inline_keyboard[0][0].callback_data==="approve:1" && m.date<1e11'
MID=$(field 'b.result.message_id')
post "$BOT/SendMessage" '{"chat_id":42,"text":"second"}'
check "message_id increases per chat" "b.result.message_id>$MID"
MID2=$(field 'b.result.message_id')
post "$BOT/SendMessage" '{"chat_id":42}'
check "empty text -> 400 message text is empty" 'code===400 && b.error_code===400 && b.description==="Bad Request: message text is empty"'

echo "# callbacks"
post "$B/sendCallback" '{"botToken":"'"$TOKEN"'","from":{"id":42,"first_name":"Ann"},"message":{"message_id":'"$MID"',"date":1700000000,"chat":{"id":42,"type":"private","first_name":"Ann"}},"data":"approve:1"}'
check "client /sendCallback accepted" 'code===200 && b.ok'
post "$BOT/GetUpdates" '{"timeout":5}'
check "callback_query update has id, from, chat_instance, message, data" "const q=b.result.length===1 && b.result[0].callback_query; q && typeof q.id==='string' && q.from.id===42 && q.from.is_bot===false && typeof q.chat_instance==='string' && q.chat_instance.length>0 && q.message.message_id===$MID && q.message.chat.id===42 && isInt(q.message.date) && q.message.date>0 && q.message.text==='Approve deploy?' && q.data==='approve:1'"
CBID=$(field 'b.result[0].callback_query.id')
CBU=$(field 'b.result[0].update_id')
post "$BOT/GetUpdates" "{\"offset\":$((CBU + 1))}"
post "$BOT/AnswerCallbackQuery" '{"callback_query_id":"'"$CBID"'","text":"Approved","show_alert":true}'
check "answerCallbackQuery -> true" 'code===200 && b.result===true'
get "$B/_aura/callback_answers"
check "/_aura/callback_answers records it" "code===200 && b.length===1 && b[0].callback_query_id==='$CBID' && b[0].text==='Approved' && b[0].show_alert===true"

echo "# edits and deletes"
post "$BOT/EditMessageText" '{"chat_id":42,"message_id":'"$MID"',"text":"Approved by Ann","parse_mode":"HTML"}'
check "editMessageText returns the edited Message" "code===200 && b.result.message_id===$MID && b.result.text==='Approved by Ann' && isInt(b.result.edit_date) && b.result.reply_markup===undefined"
post "$BOT/EditMessageText" '{"chat_id":42,"message_id":'"$MID"',"text":"Approved by Ann","parse_mode":"HTML"}'
check "identical edit -> 400 message is not modified" 'code===400 && b.description.startsWith("Bad Request: message is not modified")'
post "$BOT/EditMessageReplyMarkup" '{"chat_id":42,"message_id":'"$MID"',"reply_markup":{"inline_keyboard":[[{"text":"Undo","callback_data":"undo:1"}]]}}'
check "editMessageReplyMarkup returns the edited Message" "code===200 && b.result.reply_markup.inline_keyboard[0][0].text==='Undo' && b.result.text==='Approved by Ann'"
post "$BOT/EditMessageText" '{"chat_id":42,"message_id":999999,"text":"x"}'
check "editing an unknown message -> 400 message to edit not found" 'code===400 && b.description==="Bad Request: message to edit not found"'
post "$BOT/DeleteMessage" '{"chat_id":42,"message_id":'"$MID2"'}'
check "deleteMessage -> true" 'code===200 && b.result===true'
get "$B/_aura/sent?chat_id=42"
check "/_aura/sent shows current text/markup and the edit history" "code===200 && b.length===2 && b[0].message_id===$MID && b[0].text==='Approved by Ann' && b[0].parse_mode==='HTML' && b[0].reply_markup.inline_keyboard[0][0].callback_data==='undo:1' && b[0].edits.length===2 && b[0].edits[0].text==='Approved by Ann' && b[0].edits[0].reply_markup===null && isInt(b[0].edits[1].date) && b[0].deleted===false && b[0].chat_id===42"
check "/_aura/sent marks deletes" "b[1].message_id===$MID2 && b[1].deleted===true && b[1].edits.length===0"
get "$B/_aura/sent?chat_id=-1001234"
check "/_aura/sent records thread and reply" 'b.length===1 && b[0].message_thread_id===77 && b[0].reply_to_message_id===900 && b[0].parse_mode==="HTML" && b[0].reply_markup===null && isInt(b[0].date)'

echo "# rate-limit simulation"
post "$B/_aura/fail" '{"method":"sendMessage","chat_id":42,"count":2,"retry_after":3}'
check "/_aura/fail accepted" 'code===200 && b.ok'
post "$BOT/SendMessage" '{"chat_id":43,"text":"other chat"}'
check "other chat is not affected" 'code===200 && b.ok'
post "$BOT/SendMessage" '{"chat_id":42,"text":"r1"}'
check "1st call -> 429 retry_after" 'code===429 && b.ok===false && b.error_code===429 && b.description==="Too Many Requests: retry after 3" && b.parameters.retry_after===3'
post "$BOT/SendMessage" '{"chat_id":42,"text":"r2"}'
check "2nd call -> 429" 'code===429 && b.parameters.retry_after===3'
post "$BOT/SendMessage" '{"chat_id":42,"text":"r3"}'
check "3rd call succeeds" 'code===200 && b.ok && b.result.text==="r3"'
get "$B/_aura/calls?method=SendMessage"
check "/_aura/calls records method, chat_id, at_ms, status" 'const l=b.slice(-4); l.map(c=>c.status).join()==="200,429,429,200" && l.every(c=>c.method==="sendmessage" && isInt(c.at_ms)) && l[1].chat_id===42 && l[0].chat_id===43'
post "$B/_aura/fail" '{"method":"getupdates","count":1,"retry_after":1}'
post "$BOT/GetUpdates" '{"timeout":0}'
check "any method can be failed (getUpdates)" 'code===429 && b.parameters.retry_after===1'

echo "# emulator's own client API still works"
post "$B/getUpdates" '{"token":"'"$TOKEN"'","chatId":42}'
check "client /getUpdates lists the bot's messages to the chat" 'code===200 && b.ok && b.result.length>=1 && b.result.some(u=>u.message.text==="r3")'
post "$B/getUpdatesHistory" '{"token":"'"$TOKEN"'"}'
check "client /getUpdatesHistory works" 'code===200 && b.ok && b.result.length>=3'

echo "# robustness"
post "$BOT/SetWebhook" '{"url":"http://127.0.0.1:9/unreachable"}'
check "setWebhook -> true" 'code===200 && b.result===true'
post "$B/sendMessage" '{"botToken":"'"$TOKEN"'","from":{"id":42,"first_name":"Ann"},"chat":{"id":42,"type":"private","first_name":"Ann"},"text":"during webhook"}'
check "client message with a dead webhook does not crash" 'code===200'
sleep 0.5
post "$BOT/GetUpdates" '{"timeout":0}'
check "getUpdates while a webhook is set -> 409" 'code===409 && b.error_code===409'
post "$BOT/GetWebhookInfo"
check "getWebhookInfo shows url and the delivery error" 'b.result.url==="http://127.0.0.1:9/unreachable" && b.result.pending_update_count===1 && isInt(b.result.last_error_date)'
post "$BOT/DeleteWebhook"
post "$BOT/GetUpdates" '{"timeout":0}'
check "undelivered webhook update is available after deleteWebhook" 'code===200 && b.result.length===1 && b.result[0].message.text==="during webhook"'
post "$BOT/SendMessage" '{not json'
check "bad JSON -> 400 Telegram JSON" 'code===400 && b.ok===false && b.error_code===400'
post "$BOT/SendMessage" '{"chat_id":42,"text":"x","reply_markup":"{broken","entities":"[broken"}'
check "broken fields -> 4xx, not 5xx" 'code>=400 && code<500'
post "$B/sendCommand" '{}'
check "client message without chat -> 400" 'code===400'
get "$B/_aura/health"
check "server still alive" 'code===200 && b.ok===true'
post "$B/_aura/reset"
get "$B/_aura/sent"
check "/_aura/reset clears records" 'code===200 && b.length===0'

echo "# shutdown"
if [ "$(wc -l <"$TMP/out")" -eq 1 ]; then PASS=$((PASS + 1)); echo "ok   - stdout has exactly the ready line"; else FAIL=$((FAIL + 1)); echo "FAIL - stdout has more than the ready line:"; cat "$TMP/out"; fi
kill -TERM "$PID"
EXITED=no
for _ in $(seq 1 30); do
  if ! kill -0 "$PID" 2>/dev/null; then EXITED=yes; break; fi
  sleep 0.1
done
if [ $EXITED = yes ] && wait "$PID"; then PASS=$((PASS + 1)); echo "ok   - SIGTERM: clean exit 0 within 3 s"; else FAIL=$((FAIL + 1)); echo "FAIL - SIGTERM: no clean exit"; fi
PID=

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
