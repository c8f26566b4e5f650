#!/usr/bin/env bash
# A bridge in a second language, written from docs/GATEWAY.md alone: register an NPC,
# let a player talk to it, print the answer, then read the world's decision stream.
#   NPCFARM_GATEWAY=http://127.0.0.1:8700 NPCFARM_KEY=nfk_... examples/curl/client.sh
# Needs curl; every step fails loudly on an unexpected HTTP status.
set -euo pipefail
: "${NPCFARM_GATEWAY:?set NPCFARM_GATEWAY}" "${NPCFARM_KEY:?set NPCFARM_KEY (npcfarm keys create)}"
WORLD=${WORLD:-castle}

call() {  # call METHOD PATH [JSON] -> prints the body; exits unless the status is 2xx
  local method=$1 path=$2 body=${3:-} out status
  out=$(mktemp)
  status=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $NPCFARM_KEY" -H 'Content-Type: application/json' \
    ${body:+--data "$body"} "$NPCFARM_GATEWAY$path")
  cat "$out"; rm -f "$out"; echo
  case $status in 2??) ;; *) echo "HTTP $status for $method $path" >&2; exit 1 ;; esac
}

echo "register:"
call POST "/ai/npc/register?wait_ms=5000" \
  "{\"npcs\": [{\"id\": \"curl-npc\", \"name\": \"Mirela\", \"archetype\": \"vampire\", \"world\": \"$WORLD\"}]}"

echo "answer:"
answer=$(call POST "/ai/player/interaction?wait_ms=10000" \
  '{"npc_id": "curl-npc", "player_id": "curl-player", "kind": "talk", "text": "Good evening."}')
echo "$answer"
case $answer in *'"decision"'*) ;; *) echo "no answer within 10 s" >&2; exit 1 ;; esac

echo "latest:"
call GET "/ai/npc/curl-npc/action"

echo "stream:"
call GET "/ai/world/$WORLD/decisions?after=0-0&count=10"
