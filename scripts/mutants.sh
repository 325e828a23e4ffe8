#!/usr/bin/env bash
# Mutation testing of the modules that move, rename, restore or record
# interfaces: cargo-mutants changes the code one small way at a time and
# checks that a test notices. As root (the tests make namespaces):
#
#   bash scripts/mutants.sh                      # every file below, one run
#   bash scripts/mutants.sh src/cmd/home.rs ...  # only these files
#   bash scripts/mutants.sh --iterate ...        # skip what was caught last time
#
# Too slow for test.sh: every mutant is a build and a run of the namespace
# suites (settings in .cargo/mutants.toml). Survivors that are equivalent
# to the original are named, with why, in .cargo/mutants-allow.txt. Exits
# non-zero when a mutant is missed (one that times out made a test hang:
# caught). MUTANTS_JOBS (default 2) mutants are tried in parallel; the
# suites mostly wait on the kernel.
# Results: mutants.out/ (missed.txt, caught.txt, unviable.txt, timeout.txt).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HD_REPO"

FILES=(
    src/cmd/home.rs src/cmd/locate.rs src/cmd/del.rs src/cmd/gc.rs 'src/state/*.rs'
    'src/cmd/add/*.rs' src/cmd/adopt.rs src/cmd/kept.rs src/safedir.rs src/device.rs
    'src/agent/*.rs'
)
ALLOW=.cargo/mutants-allow.txt

install_cargo_mutants() {
    if ! cargo mutants --version >/dev/null 2>&1; then
        hd_header "Installing cargo-mutants"
        cargo install --locked cargo-mutants
    fi
}

# allowed_regexes: the allow-list's entries, one regex a line; lines that
# are blank or start with # (the reasons) are skipped.
allowed_regexes() {
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$ALLOW"
}

main() {
    install_cargo_mutants
    local files=() args=() arg re
    for arg in "$@"; do # source files to examine; anything else goes to cargo mutants
        if [[ $arg == *.rs ]]; then files+=("$arg"); else args+=("$arg"); fi
    done
    ((${#files[@]})) || files=("${FILES[@]}")
    for arg in "${files[@]}"; do args+=(--file "$arg"); done
    while IFS= read -r re; do args+=(--exclude-re "$re"); done < <(allowed_regexes)
    hd_header "cargo mutants on ${files[*]}"
    local status=0 out=. i
    for ((i = 0; i < ${#args[@]}; i++)); do # where results go: -o DIR
        [[ ${args[i]} == -o || ${args[i]} == --output ]] && out=${args[i + 1]:-.}
    done
    hd_show cargo mutants --jobs "${MUTANTS_JOBS:-2}" "${args[@]}" || status=$?
    # cargo-mutants says 3 when a mutant timed out, missed ones or not. A
    # mutant that makes a test hang (a lock retried forever) was noticed:
    # only the missed ones fail the run.
    if ((status == 3)); then
        if [[ -s $out/mutants.out/missed.txt ]]; then
            status=2
        else
            echo "Nothing missed; the mutants that timed out made a test hang, which counts as caught."
            status=0
        fi
    fi
    return "$status"
}

main "$@"
