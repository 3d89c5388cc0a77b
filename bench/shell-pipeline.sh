#!/usr/bin/env bash
# shell-pipeline.sh - what an integrator writes today with the usual tools:
# jq to walk the JSON, base64 -d, file to sniff, pdftotext / xmllint / sed to
# extract, jq again to write the record.  One DocumentReference NDJSON line
# on stdin, one record on stdout.  bench/run runs it with xargs -P.
set -u
line=$(cat)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
id=$(printf '%s' "$line" | jq -r '.id')
printf '%s' "$line" | jq -r '.content[0].attachment.data' | base64 -d > "$tmp" 2>/dev/null
mime=$(file -b --mime-type "$tmp")
txt=$(mktemp)
trap 'rm -f "$tmp" "$txt"' EXIT
case "$mime" in
  application/pdf) pdftotext -q "$tmp" "$txt" 2>/dev/null; fmt=pdf ;;
  text/xml|application/xml)
    xmllint --nonet --xpath 'string(/)' "$tmp" > "$txt" 2>/dev/null; fmt=xml ;;
  text/html) xmllint --html --nonet --xpath 'string(//body)' "$tmp" > "$txt" 2>/dev/null; fmt=html ;;
  text/rtf) sed -e 's/\\[a-z]*[0-9-]* \{0,1\}//g' -e 's/[{}]//g' "$tmp" > "$txt"; fmt=rtf ;;
  text/*) iconv -f "$(file -b --mime-encoding "$tmp" | sed 's/unknown-8bit/windows-1252/;s/binary/utf-8/')" \
            -t utf-8 "$tmp" > "$txt" 2>/dev/null; fmt=text ;;
  *) : > "$txt"; fmt=unknown ;;
esac
jq -cn --arg id "DocumentReference/$id" --arg fmt "$fmt" --rawfile content "$txt" \
  '{id: $id, format: $fmt, content: $content}'
