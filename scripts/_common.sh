# Sourced by the scripts: messages in German (default) or English (TECHCARE_LANG=en), numbered steps on stderr.
# say DE EN           one line
# step N TOTAL DE EN  "[N/TOTAL] text", bold on a terminal (not with TERM=dumb or NO_COLOR)
say() {
  if [ "${TECHCARE_LANG:-de}" = en ]; then printf '%s\n' "$2" >&2; else printf '%s\n' "$1" >&2; fi
}
step() {
  local text="$3"
  [ "${TECHCARE_LANG:-de}" = en ] && text="$4"
  if [ -t 2 ] && [ "${TERM:-dumb}" != dumb ] && [ -z "${NO_COLOR:-}" ]; then
    printf '\033[1m[%s/%s] %s\033[0m\n' "$1" "$2" "$text" >&2
  else
    printf '[%s/%s] %s\n' "$1" "$2" "$text" >&2
  fi
}
# live: true when a line may be redrawn in place (\r) — a terminal on stderr that is not TERM=dumb
live() {
  [ -t 2 ] && [ "${TERM:-dumb}" != dumb ]
}
