#!/usr/bin/env bash
# Posts the plan as ONE pull-request comment: finds the comment carrying the
# hidden marker (an HTML comment) and updates it, or creates it the first time,
# so each push updates the same comment instead of adding one.
#
# Reads CSPCTL_COMMENT_FILE (the Markdown), CSPCTL_MARKER (tells this plan's
# comment from another cspctl Action's in the same pull request), GITHUB_TOKEN,
# GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the pull request number).
set -euo pipefail

api=${GITHUB_API_URL:-https://api.github.com}
repo=${GITHUB_REPOSITORY:?}
file=${CSPCTL_COMMENT_FILE:?}
marker="<!-- ${CSPCTL_MARKER:-cspctl-plan} -->"
pr=$(jq -r '.pull_request.number // .number // empty' "${GITHUB_EVENT_PATH:?}")
if [ -z "$pr" ]; then
  echo "::warning title=cspctl::not a pull request event; no comment posted"
  exit 0
fi

request() { # METHOD URL [BODY-FILE]
  local args=(--fail-with-body --silent --show-error --location --retry 3
    -H "Authorization: Bearer ${GITHUB_TOKEN:?}"
    -H "Accept: application/vnd.github+json"
    -H "X-GitHub-Api-Version: 2022-11-28"
    -H "Expect:"
    -X "$1" "$2")
  if [ $# -ge 3 ]; then
    args+=(-H "Content-Type: application/json" --data-binary "@$3")
  fi
  curl "${args[@]}"
}

body="${RUNNER_TEMP:-/tmp}/cspctl-comment.json"
jq -n --arg marker "$marker" --rawfile plan "$file" '{body: ($marker + "\n" + $plan)}' > "$body"

# The marked comment, page by page (a long pull request has many comments).
id=""
page=1
while [ -z "$id" ]; do
  comments=$(request GET "$api/repos/$repo/issues/$pr/comments?per_page=100&page=$page")
  [ "$(jq 'length' <<< "$comments")" = 0 ] && break
  id=$(jq -r --arg marker "$marker" '[.[] | select(.body | contains($marker))][0].id // empty' <<< "$comments")
  page=$((page + 1))
done

if [ -n "$id" ]; then
  request PATCH "$api/repos/$repo/issues/comments/$id" "$body" > /dev/null
  echo "Updated the plan comment $id on pull request #$pr"
else
  request POST "$api/repos/$repo/issues/$pr/comments" "$body" > /dev/null
  echo "Posted the plan comment on pull request #$pr"
fi
