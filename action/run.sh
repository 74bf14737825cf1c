#!/usr/bin/env bash
# Runs cspctl for the Action and sets its outputs: exit-code, changes,
# manual-steps, plan-file and comment-file. The step fails on an error (exit 1)
# or an interruption, not on changes (2) or remaining manual steps (3): those
# are outputs for the workflow to act on.
#
# Reads CSPCTL_COMMAND, CSPCTL_MANIFESTS, CSPCTL_ARGS, CSPCTL_PLAN_FILE,
# RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY.
set -uo pipefail

command=${CSPCTL_COMMAND:?the command input is required: validate, plan, apply or drift}
plan_file=${CSPCTL_PLAN_FILE:-cspctl-plan.json}
temp=${RUNNER_TEMP:-/tmp}
output=${GITHUB_OUTPUT:-/dev/null}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
paths=()
if [ -n "${CSPCTL_MANIFESTS:-}" ]; then
  paths=("$CSPCTL_MANIFESTS")
fi
# Extra arguments split as the shell splits words (no globbing).
set -f
# shellcheck disable=SC2206
extra=(${CSPCTL_ARGS:-})
set +f

manual_of() { # the manual and blocked actions of a saved plan
  cspctl show "$1" --format json | jq '.summary.by_status.manual + .summary.by_status.blocked'
}

changes=false
manual=0
case "$command" in
  validate)
    cspctl validate "${paths[@]}" --format github "${extra[@]}"
    code=$?
    ;;
  plan)
    comment="$temp/cspctl-plan.md"
    # A comment too long for GitHub links to the run, whose page has the artifact.
    if [ -n "${GITHUB_RUN_ID:-}" ]; then
      extra=(--full-plan-url "${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$GITHUB_RUN_ID" "${extra[@]}")
    fi
    cspctl plan "${paths[@]}" --format markdown --out "$plan_file" --detailed-exitcode "${extra[@]}" > "$comment"
    code=$?
    if [ "$code" = 0 ] || [ "$code" = 2 ]; then
      [ "$code" = 2 ] && changes=true
      manual=$(manual_of "$plan_file")
      cat "$comment" >> "$summary"
      echo "plan-file=$plan_file" >> "$output"
    else
      # The comment says there is no plan, so an older one is not reviewed by mistake.
      printf '### cspctl plan failed\n\nThere is no plan for %s (exit %s): the manifests are invalid or planning failed; the errors are in the run log.\n' \
        "${GITHUB_SHA:-this commit}" "$code" > "$comment"
    fi
    echo "comment-file=$comment" >> "$output"
    ;;
  apply)
    events="$temp/cspctl-apply.jsonl"
    if [ -f "$plan_file" ]; then
      cspctl apply "$plan_file" --auto-approve --format json "${extra[@]}" > "$events"
    else
      cspctl apply "${paths[@]}" --auto-approve --format json "${extra[@]}" > "$events"
    fi
    code=$?
    summary_event=$(jq -c 'select(.event == "summary")' "$events" | tail -n 1)
    if [ -n "$summary_event" ]; then
      manual=$(jq '.waiting' <<< "$summary_event")
      [ "$(jq '.applied' <<< "$summary_event")" != 0 ] && changes=true
      jq -r '.message' <<< "$summary_event" >> "$summary"
    fi
    ;;
  drift)
    cspctl drift "${paths[@]}" --format markdown "${extra[@]}" > "$temp/cspctl-drift.md"
    code=$?
    [ "$code" = 2 ] && changes=true
    cat "$temp/cspctl-drift.md" >> "$summary"
    ;;
  *)
    echo "::error title=cspctl::unknown command '$command': use validate, plan, apply or drift"
    exit 1
    ;;
esac

{
  echo "exit-code=$code"
  echo "changes=$changes"
  echo "manual-steps=$manual"
} >> "$output"
echo "cspctl $command exited $code (changes: $changes, manual steps: $manual)"
case "$code" in
  0 | 2 | 3) exit 0 ;;
  *) exit "$code" ;;
esac
