#!/usr/bin/env bats
# The kernel harness itself, without QEMU or the kernel source: the series
# is applied to a tree made of kernel/base/ (the files it touches, as they
# were in the Debian version of kernel/base-version), as it is to the
# unpacked linux-source-6.12 by "make -C kernel".  A point release is
# imitated by changing lines of that tree: near a hunk of each patch (the
# series must still apply, through the 3-way path), or inside one (a real
# conflict: one message, exit status 3).

KDIR=$BATS_TEST_DIRNAME/..
APPLY=$KDIR/scripts/apply-series
REFRESH=$KDIR/scripts/refresh-series
MARK=' /* changed by a point release */'

setup() {
	RECORDED=$(cat "$KDIR/base-version")
	INSTALLED=6.12.999-1~deb12u1
	git_() {
		git -c user.name=t -c user.email=t@t.invalid "$@"
	}
}

# make_tree DIR: a git tree of kernel/base/ tagged "base", as the Makefile
# makes of the kernel source.
make_tree() {
	mkdir -p "$1"
	cp -a "$KDIR/base/." "$1/"
	git_ -C "$1" init -q
	git_ -C "$1" add -A -f
	git_ -C "$1" commit -q -m base
	git_ -C "$1" tag base
}

# near_line PATCH BASEDIR: "FILE<US>TEXT" (US, \037, keeps TEXT's tabs) of
# a line to change near a hunk of PATCH, so that plain git am fails but a 3-way merge does not: the
# first of three leading context lines (two unchanged lines lie between it
# and the hunk's first change), whose text occurs once in FILE at base.
near_line() {
	local patch=$1 base=$2 file text
	awk '
		/^diff --git / { file = substr($4, 3); next }
		/^@@ / { n = 0; cand = ""; inhunk = 1; next }
		inhunk && /^ / {
			n++
			if (n == 1) cand = substr($0, 2)
			if (n == 3 && length(cand) > 12) print file "\037" cand
			next
		}
		{ inhunk = 0 }
	' "$patch" | while IFS=$'\037' read -r file text; do
		[ "$(grep -cxF -- "$text" "$base/$file")" -eq 1 ] || continue
		printf '%s\037%s\n' "$file" "$text"
		break
	done
}

# change_line DIR FILE TEXT: append $MARK to the one line that is TEXT.
change_line() {
	local f=$1/$2 text=$3
	awk -v t="$text" -v m="$MARK" '$0 == t { $0 = $0 m } { print }' \
		"$f" >"$f.new" && mv "$f.new" "$f"
	grep -qF -- "$text$MARK" "$f"
}

@test "harness: the series applies to its pristine copies as it is" {
	make_tree "$BATS_TEST_TMPDIR/src"
	run "$APPLY" "$BATS_TEST_TMPDIR/src" "$KDIR/patches" "$KDIR/base" \
		"$RECORDED" "$RECORDED"
	[ "$status" -eq 0 ]
	[[ "$output" != *3-way* ]]
	n=$(grep -c . "$KDIR/patches/series")
	[ "$(git -C "$BATS_TEST_TMPDIR/src" rev-list --count base..series)" -eq "$n" ]
}

@test "harness: a line changed near a hunk of every patch: the 3-way path applies the series" {
	local src=$BATS_TEST_TMPDIR/src want=$BATS_TEST_TMPDIR/want
	local p file text
	make_tree "$src"
	# The expected result: the series on the pristine copies, with the
	# same lines changed afterwards.
	make_tree "$want"
	"$APPLY" "$want" "$KDIR/patches" "$KDIR/base" "$RECORDED" "$RECORDED"
	while read -r p; do
		IFS=$'\037' read -r file text < <(near_line "$KDIR/patches/$p" "$KDIR/base")
		[ -n "$file" ] || { echo "no line to change near a hunk of $p" >&2; return 1; }
		echo "# $p: $file: $text"
		change_line "$src" "$file" "$text"
		change_line "$want" "$file" "$text"
	done <"$KDIR/patches/series"
	git_ -C "$src" commit -q -a -m "a point release"
	git_ -C "$src" tag -f base >/dev/null

	# A plain git am no longer applies the first patch...
	git_ -C "$src" checkout -q -b plain base
	run git_ -C "$src" am "$KDIR/patches/$(head -1 "$KDIR/patches/series")"
	[ "$status" -ne 0 ]
	git -C "$src" am --abort
	git -C "$src" checkout -q -f master 2>/dev/null || git -C "$src" checkout -q -f main

	# ...but the harness carries every patch across.
	run "$APPLY" "$src" "$KDIR/patches" "$KDIR/base" "$RECORDED" "$INSTALLED"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"applied to $INSTALLED through a 3-way merge"* ]]
	[ "$(git -C "$src" rev-list --count base..series)" -eq "$(grep -c . "$KDIR/patches/series")" ]
	# Each patch went through the 3-way path, and the result is the
	# series' with the point release's lines.
	while read -r p; do
		subject=$(sed -n 's/^Subject: \[PATCH [0-9/]*\] //p' "$KDIR/patches/$p")
		[[ "$output" == *"  $subject"* ]] || { echo "not listed: $p" >&2; return 1; }
	done <"$KDIR/patches/series"
	diff -r -x .git "$want" "$src"
}

@test "harness: refresh writes a series that applies plainly to the new release" {
	local src=$BATS_TEST_TMPDIR/src out=$BATS_TEST_TMPDIR/out p file text
	make_tree "$src"
	while read -r p; do
		IFS=$'\037' read -r file text < <(near_line "$KDIR/patches/$p" "$KDIR/base")
		change_line "$src" "$file" "$text"
	done <"$KDIR/patches/series"
	git_ -C "$src" commit -q -a -m "a point release"
	git_ -C "$src" tag -f base >/dev/null
	"$APPLY" "$src" "$KDIR/patches" "$KDIR/base" "$RECORDED" "$INSTALLED"
	mkdir -p "$out/patches"
	run "$REFRESH" "$src" "$out/patches" "$out/base" "$INSTALLED" "$out/base-version"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat "$out/base-version")" = "$INSTALLED" ]
	cmp "$KDIR/patches/series" "$out/patches/series"
	grep -rqF -- "$MARK" "$out/base"
	# Recorded against the new release, it applies without the 3-way path.
	make_tree "$BATS_TEST_TMPDIR/again"
	rm -rf "$BATS_TEST_TMPDIR/again/"*
	cp -a "$out/base/." "$BATS_TEST_TMPDIR/again/"
	git_ -C "$BATS_TEST_TMPDIR/again" add -A -f
	git_ -C "$BATS_TEST_TMPDIR/again" commit -q -m new
	git_ -C "$BATS_TEST_TMPDIR/again" tag -f base >/dev/null
	run "$APPLY" "$BATS_TEST_TMPDIR/again" "$out/patches" "$out/base" "$INSTALLED" "$INSTALLED"
	[ "$status" -eq 0 ]
	[[ "$output" != *3-way* ]]
}

# conflict_tree DIR: a tree where a line patch 0003 removes in move_vma()
# was changed by the "point release".
conflict_tree() {
	local src=$1 p3 text
	make_tree "$src"
	p3=$(grep -m1 '^0003-' "$KDIR/patches/series")
	text=$(sed -n 's/^-\(.*if (moved_len < old_len) {\)$/\1/p' "$KDIR/patches/$p3")
	[ -n "$text" ]
	change_line "$src" mm/mremap.c "$text"
	git_ -C "$src" commit -q -a -m "a point release"
	git_ -C "$src" tag -f base >/dev/null
	P3=$p3
}

@test "harness: a real conflict names patch, file, function and versions, exits 3, undoes" {
	local src=$BATS_TEST_TMPDIR/src
	conflict_tree "$src"
	run "$APPLY" "$src" "$KDIR/patches" "$KDIR/base" "$RECORDED" "$INSTALLED"
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"CONFLICT: patches/$P3 does not apply to Debian linux-source-6.12 $INSTALLED (the series was made against $RECORDED)"* ]]
	[[ "$output" == *"file:     mm/mremap.c, in move_vma()"* ]]
	[[ "$output" == *"make -C kernel rebase"* ]]
	[[ "$output" == *"make -C kernel refresh"* ]]
	# One conflict message, and the tree is left as it was: on base.
	[ "$(grep -c CONFLICT <<<"$output")" -eq 1 ]
	[ ! -d "$src/.git/rebase-apply" ]
	[ "$(git -C "$src" rev-parse series)" = "$(git -C "$src" rev-parse base)" ]
	[ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ]
}

@test "harness: --leave-conflict (make -C kernel rebase) leaves the conflict marked" {
	local src=$BATS_TEST_TMPDIR/src
	conflict_tree "$src"
	run "$APPLY" --leave-conflict "$src" "$KDIR/patches" "$KDIR/base" \
		"$RECORDED" "$INSTALLED"
	[ "$status" -eq 3 ]
	[ -d "$src/.git/rebase-apply" ]
	grep -q '^<<<<<<< ' "$src/mm/mremap.c"
	[ "$(git -C "$src" diff --name-only --diff-filter=U)" = mm/mremap.c ]
	# The patches before it are applied.
	[ "$(git -C "$src" rev-list --count base..series)" -eq 2 ]
	# refresh refuses while git am is under way.
	run "$REFRESH" "$src" "$BATS_TEST_TMPDIR/p" "$BATS_TEST_TMPDIR/b" "$INSTALLED" \
		"$BATS_TEST_TMPDIR/v"
	[ "$status" -eq 1 ]
	[[ "$output" == *"in the middle of git am"* ]]
}

@test "harness: base/ and patches/ out of step is said, not taken for a conflict" {
	local base=$BATS_TEST_TMPDIR/base
	cp -a "$KDIR/base" "$base"
	sed -i 's/move_page_tables/move_page_tables_renamed/' "$base/mm/mremap.c"
	make_tree "$BATS_TEST_TMPDIR/src"
	run "$APPLY" "$BATS_TEST_TMPDIR/src" "$KDIR/patches" "$base" "$RECORDED" "$INSTALLED"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not apply to its own pristine copies"* ]]
}

@test "harness: a rebase under way is not thrown away by the next make" {
	local src=$BATS_TEST_TMPDIR/src
	conflict_tree "$src"
	"$APPLY" --leave-conflict "$src" "$KDIR/patches" "$KDIR/base" \
		"$RECORDED" "$INSTALLED" 2>/dev/null || [ $? -eq 3 ]
	run "$APPLY" "$src" "$KDIR/patches" "$KDIR/base" "$RECORDED" "$INSTALLED"
	[ "$status" -eq 1 ]
	[[ "$output" == *"in the middle of a rebase"* ]]
	[ -d "$src/.git/rebase-apply" ]
	grep -q '^<<<<<<< ' "$src/mm/mremap.c"
}
