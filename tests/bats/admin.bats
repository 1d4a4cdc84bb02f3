#!/usr/bin/env bats
# Install, the library example of libanonremap(3), bash completion, systemd.

load helpers

TOP=$BATS_TEST_DIRNAME/../..

teardown() {
	stop_fragment
}

@test "make install puts every file in place under DESTDIR" {
	dest=$BATS_TEST_TMPDIR/stage
	run make -C "$TOP" --no-print-directory install DESTDIR="$dest" PREFIX=/usr
	[ "$status" -eq 0 ]
	for f in bin/anonremap lib/libanonremap.so.0 lib/libanonremap.so \
		lib/libanonremap.a include/anonremap.h lib/pkgconfig/anonremap.pc \
		share/man/man8/anonremap.8 share/man/man3/libanonremap.3 \
		lib/systemd/system/anonremap-textfile.service \
		lib/systemd/system/anonremap-textfile.timer \
		lib/systemd/system/anonremap-defrag@.service \
		lib/systemd/system/anonremap-defrag@.timer \
		libexec/anonremap/anonremap-defrag-if \
		share/bash-completion/completions/anonremap; do
		[ -e "$dest/usr/$f" ] || { echo "missing $f"; false; }
	done
	grep -q '^ExecStart=/usr/bin/anonremap top --prometheus-file' \
		"$dest/usr/lib/systemd/system/anonremap-textfile.service"
	[ "$("$dest/usr/bin/anonremap" -V)" = "$("$ANONREMAP" -V)" ]
}

@test "the libanonremap(3) example builds with pkg-config and reports the helper" {
	dest=$BATS_TEST_TMPDIR/stage
	make -C "$TOP" --no-print-directory install DESTDIR="$dest" PREFIX=/usr >/dev/null
	sed -n '/example-begin/,/example-end/p' "$TOP/man/libanonremap.3" |
		sed -e '/^\./d' -e 's/\\e/\\/g' -e 's/\\-/-/g' >"$BATS_TEST_TMPDIR/example.c"
	flags=$(PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest \
		pkg-config --cflags --libs anonremap)
	gcc -std=c11 -Wall -Wextra -Werror -o "$BATS_TEST_TMPDIR/example" \
		"$BATS_TEST_TMPDIR/example.c" $flags
	start_fragment interleave:30 reverse:20
	run env LD_LIBRARY_PATH="$dest/usr/lib" "$BATS_TEST_TMPDIR/example" "$FPID"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "$FPID fragment: "*" VMAs, 48 splits in 2 runs" ]]
	[ "$(grep -c '^run 0x' <<<"$output")" -eq 2 ]
	run env LD_LIBRARY_PATH="$dest/usr/lib" "$BATS_TEST_TMPDIR/example" 2147483000
	[ "$status" -eq 1 ]
	[ "$output" = "pid 2147483000: no such process" ]
}

# complete LINE: run the completion function on LINE (cursor at its end)
complete_line() {
	source /usr/share/bash-completion/bash_completion
	source "$TOP/contrib/bash-completion/anonremap"
	PATH=$(dirname "$ANONREMAP"):$PATH
	COMP_LINE=$1
	read -r -a COMP_WORDS <<<"$1"
	[[ $1 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_POINT=${#1}
	COMPREPLY=()
	_anonremap
	printf '%s\n' "${COMPREPLY[@]}"
}

@test "bash completion: commands, options, columns, sort keys, pids" {
	run complete_line "anonremap "
	[[ "$output" == *stat* && "$output" == *top* ]]
	run complete_line "anonremap stat --thr"
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "--threshold-map-use --threshold-splits " ]
	run complete_line "anonremap stat -o SPLIT-R"
	[ "$output" = SPLIT-RSS ]
	run complete_line "anonremap stat -o PID,CO"
	[ "$output" = PID,COMM ]
	run complete_line "anonremap top --sort m"
	[ "$output" = map-use ]
	run complete_line "anonremap top --wa"
	[ "$output" = --watch ]
	run complete_line "anonremap stat $$"
	grep -qx "$$" <<<"$output"
}

@test "every option in --help is offered by the completion" {
	for cmd in stat top; do
		opts=$("$ANONREMAP" $cmd --help | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | grep -o -- '--.*')
		[ "$(wc -w <<<"$opts")" -ge 10 ]
		run complete_line "anonremap $cmd --"
		for o in $opts; do
			grep -qx -- "$o" <<<"$output" || { echo "$cmd: $o not completed"; false; }
		done
	done
}

@test "systemd units pass systemd-analyze verify" {
	dir=$BATS_TEST_TMPDIR/units
	mkdir -p "$dir"
	for u in anonremap-textfile.service anonremap-defrag@.service; do
		sed -e "s|@BINDIR@|$(cd "$(dirname "$ANONREMAP")" && pwd)|" \
		    -e "s|@LIBEXECDIR@|$TOP/contrib/systemd|" \
			"$TOP/contrib/systemd/$u.in" >"$dir/$u"
	done
	cp "$TOP/contrib/systemd/anonremap-textfile.timer" "$dir/"
	cp "$TOP/contrib/systemd/anonremap-defrag@.timer" "$dir/"
	cp "$dir/anonremap-defrag@.service" "$dir/anonremap-defrag@fragment.service"
	cp "$dir/anonremap-defrag@.timer" "$dir/anonremap-defrag@fragment.timer"
	run systemd-analyze verify --man=no "$dir/anonremap-textfile.service" \
		"$dir/anonremap-textfile.timer" "$dir/anonremap-defrag@fragment.service" \
		"$dir/anonremap-defrag@fragment.timer"
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -qi "unknown\|invalid\|ignoring" <<<"$output"
}

@test "the textfile service's command writes a valid metrics file" {
	out=$BATS_TEST_TMPDIR/node-exporter/anonremap.prom
	mkdir -p "$(dirname "$out")"
	cmd=$(sed -n 's/^ExecStart=@BINDIR@\/anonremap //p' "$TOP/contrib/systemd/anonremap-textfile.service.in")
	cmd=${cmd//\/var\/lib\/prometheus\/node-exporter\/anonremap.prom/$out}
	run "$ANONREMAP" $cmd
	[ "$status" -eq 0 ]
	promtool check metrics <"$out"
}

@test "anonremap-defrag-if defragments a named process only past its threshold" {
	# a name of its own: no other test's helper may answer to it
	name=defrag-if-$RANDOM
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	ln -s "$FRAGMENT" "$BATS_TEST_TMPDIR/bin/$name"
	FRAGMENT=$BATS_TEST_TMPDIR/bin/$name start_fragment reverse:300
	script=$TOP/contrib/systemd/anonremap-defrag-if
	before=$(cat /proc/$FPID/maps)
	run env ANONREMAP="$ANONREMAP" ANONREMAP_SPLITS=1000 ANONREMAP_MAP_USE=90 "$script" "$name"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(cat /proc/$FPID/maps)" = "$before" ]
	run env ANONREMAP="$ANONREMAP" ANONREMAP_SPLITS=200 ANONREMAP_MAP_USE=90 "$script" "$name"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "pid $FPID ($name) reached a threshold: defragmenting" ]]
	[ "$("$ANONREMAP" stat -J "$FPID" | jq .processes[0].splits)" -eq 0 ]
	verify_fragment
	run "$script"
	[ "$status" -eq 2 ]
}

@test "anonremap(8) documents every command, option and column --help lists" {
	man=$(MANWIDTH=200 man -l "$TOP/man/anonremap.8" 2>/dev/null)
	[ -n "$man" ]
	cmds=$("$ANONREMAP" --help | sed -n '/^Commands:/,/^$/{s/^  \([a-z][a-z-]*\) .*/\1/p}')
	[ "$(wc -w <<<"$cmds")" -ge 5 ]
	for cmd in $cmds; do
		grep -q "anonremap $cmd" <<<"$man" || { echo "command $cmd"; false; }
		opts=$("$ANONREMAP" "$cmd" --help | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | grep -o -- '--.*')
		for o in $opts; do
			grep -q -- "$o" <<<"$man" || { echo "$cmd: option $o"; false; }
		done
	done
	for cmd in stat top; do
		cols=$("$ANONREMAP" "$cmd" --help | sed -n '/^Columns/,/^$/{s/^  \([A-Z][A-Z-]*\) .*/\1/p}')
		for c in $cols; do
			grep -qw -- "$c" <<<"$man" || { echo "column $c"; false; }
		done
	done
}
