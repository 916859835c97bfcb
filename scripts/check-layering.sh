#!/usr/bin/env bash
# Checks the module arrows of DESIGN.md §1 and the include rules of STYLE.md B1
# on the sources themselves: which module may include which, and which files
# may include a third-party or system header. Run by ctest as "layering".
set -u
cd "$(dirname "$0")/.." || exit 2

# module -> the project modules it may include (besides itself)
declare -A allowed=(
  [base]=""
  [platform]="base"
  [cron]="base"
  [config]="base cron"
  [state]="base platform"
  [coordination]="base platform config state"
  [tofu]="base platform"
  [workspace]="base platform config"
  [scheduler]="base platform cron config state coordination tofu workspace"
  [telemetry]="base platform"
  [http]="base platform cron config state tofu workspace scheduler telemetry"
  [app]="base platform cron config state coordination tofu workspace scheduler telemetry http"
)

# header pattern -> the files (path regex) that may include it
declare -A third_party=(
  ['httplib\.h']='^src/http/'
  ['prometheus/']='^src/telemetry/'
  ['nlohmann/']='(_json\.(cc|h)|/config_parse\.cc)$'
  ['yaml-cpp/']='^src/config/'
  ['date/']='^src/cron/'
  ['CLI/']='^src/app/'
  ['systemd/']='^src/platform/'
  ['archive(_entry)?\.h']='^src/tofu/'
  ['openssl/']='^src/(platform|http)/'
  ['libpq-fe\.h']='^src/coordination/pg_'
  ['(unistd|spawn|fcntl|poll|signal|dirent)\.h|sys/']='^src/platform/'
)

fail=0
for dir in src/*/; do
  module=$(basename "$dir")
  [[ -v "allowed[$module]" ]] || { echo "unknown module folder: $dir"; fail=1; continue; }
  for file in "$dir"*.h "$dir"*.cc; do
    [ -e "$file" ] || continue
    while IFS= read -r line; do
      inc=${line#*\"}
      inc=${inc%%\"*}
      target=${inc%%/*}
      [ "$target" = "$inc" ] && continue          # same-folder or generated header
      [ "$target" = "$module" ] && continue
      [[ -v "allowed[$target]" ]] || continue     # not a project module
      if [[ " ${allowed[$module]} " != *" $target "* ]]; then
        echo "$file: $module may not include $inc (DESIGN.md §1 arrows)"
        fail=1
      fi
    done < <(grep -E '^\s*#\s*include\s+"' "$file")
    while IFS= read -r line; do
      inc=${line#*<}
      inc=${inc%%>*}
      for pattern in "${!third_party[@]}"; do
        if [[ "$inc" =~ ^($pattern) ]] && ! [[ "$file" =~ ${third_party[$pattern]} ]]; then
          echo "$file: <$inc> belongs in files matching ${third_party[$pattern]} (STYLE.md B1)"
          fail=1
        fi
      done
    done < <(grep -E '^\s*#\s*include\s+<' "$file")
  done
done

# Wall-clock reads and the environment belong to platform/ and main (STYLE.md B13).
while IFS= read -r hit; do
  echo "$hit: clock or environment read outside platform/ and main (STYLE.md B13)"
  fail=1
done < <(grep -nE '(system_clock|steady_clock)::now\(|[^_a-z]getenv\(|[^a-z_.]time\(nullptr\)' \
           -r src --include='*.cc' --include='*.h' | grep -vE '^src/platform/|^src/app/main\.cc:')

if [ "$fail" -ne 0 ]; then
  echo "layering: FAILED"
  exit 1
fi
echo "layering: OK"
