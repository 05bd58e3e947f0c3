# Run-time options of the sanitizer build (build-asan): sourced by scripts/sanitize.sh and scripts/fuzz.sh, and by
# hand before running a build-asan binary yourself (`. tests/sanitizers/env.sh`). Any report is fatal: ASan stops
# at the first error, UBSan does too (the code is also built with -fno-sanitize-recover), LeakSanitizer runs at
# exit. The only suppressions (lsan.supp) are Open MPI's own leaks.
sanitizer_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:detect_invalid_pointer_pairs=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$sanitizer_dir/lsan.supp:print_suppressions=0"
unset sanitizer_dir
