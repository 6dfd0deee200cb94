#!/usr/bin/env bash
# The wharf binary as built is hardened (issue 11): a position-independent
# executable, full RELRO (relocations read-only and every symbol bound at
# start-up), stack canaries (-fstack-protector-strong), glibc's checked
# functions (_FORTIFY_SOURCE=3: also for sizes known only at run time), and
# no executable stack. The sanitizer build leaves FORTIFY out (ASan's
# interceptors and the __*_chk variants do not mix): those checks are skipped
# there.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd readelf nm); then
	t_skip "hardening" "$why"
	e2e_done
	exit
fi
if [ ! -x "$WHARF_BIN" ]; then
	t_fail "wharf binary built" "no $WHARF_BIN: make all"
	e2e_done
	exit
fi
bin=$WHARF_BIN
asan=0
nm "$bin" 2>/dev/null | grep -q '__asan_init' && asan=1

hdr=$(readelf -hW "$bin")
dyn=$(readelf -dW "$bin")
segs=$(readelf -lW "$bin")
syms=$(nm -D "$bin")

# PIE: an ELF of type DYN with an interpreter, marked PIE in FLAGS_1
check_eq "PIE: ELF type is DYN" DYN "$(awk '$1 == "Type:" { print $2 }' <<<"$hdr")"
if grep -Eq 'FLAGS_1.*\bPIE\b' <<<"$dyn"; then t_ok "PIE: FLAGS_1 has PIE"; else
	t_fail "PIE: FLAGS_1 has PIE" "$(grep FLAGS <<<"$dyn")"
fi
# full RELRO = a GNU_RELRO segment + BIND_NOW (no lazy binding, so the whole
# GOT is made read-only before main)
if grep -q 'GNU_RELRO' <<<"$segs"; then t_ok "RELRO: GNU_RELRO segment"; else
	t_fail "RELRO: GNU_RELRO segment" "$(grep -E '^ +[A-Z_]+ ' <<<"$segs")"
fi
if grep -Eq '\(BIND_NOW\)|FLAGS.*\bBIND_NOW\b|FLAGS_1.*\bNOW\b' <<<"$dyn"; then
	t_ok "full RELRO: BIND_NOW"
else
	t_fail "full RELRO: BIND_NOW" "$(grep FLAGS <<<"$dyn")"
fi
# NX stack
check_eq "no executable stack (GNU_STACK RW)" RW "$(awk '$1 == "GNU_STACK" { print $(NF - 1) }' <<<"$segs")"
# stack protector: canary checks call __stack_chk_fail
if grep -q ' U __stack_chk_fail' <<<"$syms"; then t_ok "stack canaries: __stack_chk_fail"; else
	t_fail "stack canaries: __stack_chk_fail" "not among the binary's imports"
fi
# -fstack-protector-strong, not just -fstack-protector, in every unit of
# Wharf's own (the DWARF producer string of a compile unit records its
# options; the sanitizer runtime linked into the ASan build has units of its
# own, built its way)
units=$(readelf --debug-dump=info "$bin" 2>/dev/null | awk '
	/DW_AT_producer/ { sub(/.*\): /, ""); prod = $0; next }
	/DW_AT_name/ && prod != "" { sub(/.*\): /, ""); print $0 "\t" prod; prod = "" }' |
	grep -E '^(admin|lib|storage|handlers|fcgi)/[^	]*\.c	')
if [ -z "$units" ]; then
	t_skip "every unit built with -fstack-protector-strong" "no debug info in $bin"
elif weak=$(grep -v -- '-fstack-protector-strong' <<<"$units"); then
	t_fail "every unit built with -fstack-protector-strong" "$(cut -f1 <<<"$weak" | head -n 5)"
else
	t_ok "every unit built with -fstack-protector-strong ($(wc -l <<<"$units") units)"
fi

if [ "$asan" = 1 ]; then
	t_skip "FORTIFY_SOURCE: checked glibc functions" "sanitizer build (built without FORTIFY)"
	t_skip "FORTIFY_SOURCE=3: run-time sizes checked" "sanitizer build (built without FORTIFY)"
	e2e_done
	exit
fi
# FORTIFY_SOURCE: calls go to glibc's __*_chk variants
chk=$(grep -Eo ' U __(memcpy|memmove|memset|strcpy|stpcpy|strcat|strncpy|snprintf|vsnprintf|sprintf|read|fprintf|printf)_chk' <<<"$syms" | wc -l)
if [ "$chk" -ge 3 ]; then t_ok "FORTIFY_SOURCE: checked glibc functions ($chk kinds)"; else
	t_fail "FORTIFY_SOURCE: checked glibc functions" "only $chk __*_chk imports:" "$(grep _chk <<<"$syms")"
fi
# level 3 (not 2): compile a probe with the very command make uses for a
# library object; a memcpy into a buffer whose size is known only at run
# time is checked at level 3 alone (__builtin_dynamic_object_size)
cmd=$(cd "$REPO" && make -s -n -B BUILD="$TMP/b" "$TMP/b/obj/lib/arena.o" 2>/dev/null | grep -- ' -c -o ' | head -n 1)
cat >"$TMP/probe.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
void *probe_copy(const char *src, size_t n);
void *probe_copy(const char *src, size_t n)
{
    char *p = malloc(n);
    if (p) memcpy(p, src, strlen(src) + 1);
    return p;
}
EOF
if [ -z "$cmd" ]; then
	t_fail "FORTIFY_SOURCE=3: run-time sizes checked" "make -n printed no compile command"
else
	# the same compiler and flags, our probe in place of lib/arena.c
	pcmd=${cmd%% -c -o *}
	if (cd "$REPO" && eval "$pcmd -c -o '$TMP/probe.o' '$TMP/probe.c'") >"$TMP/probe.log" 2>&1 &&
		nm "$TMP/probe.o" | grep -q ' U __memcpy_chk'; then
		t_ok "FORTIFY_SOURCE=3: run-time sizes checked"
	else
		t_fail "FORTIFY_SOURCE=3: run-time sizes checked" "command: $pcmd" "$(cat "$TMP/probe.log")" \
			"$(nm "$TMP/probe.o" 2>/dev/null | grep ' U ')"
	fi
fi
e2e_done
