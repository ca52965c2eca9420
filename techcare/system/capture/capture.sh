#!/bin/sh
# TechCare standalone capture for Linux and macOS — no Python needed on the customer machine.
#
#   sh capture.sh [OUTPUT.json]        (run as root/sudo to include SMART data, ufw and nftables state)
#
# Records exactly the read-only requests declared in techcare/system/recorded.py: every command, file,
# directory, symlink and program look-up the TechCare probes (techcare/system/_linux.py, _macos.py) and the
# drivers module (techcare/tools/drivers/) make, and writes one snapshot file (format v1,
# docs/snapshot-format.md). tests/system/test_capture_parity.py compares this script with that list.
# Analyse it anywhere with:  techcare diagnose --snapshot OUTPUT.json
# Nothing on this machine is changed; only a temporary directory is used and removed again.

set -u
set -f          # no pathname expansion: names read from the machine (disks, devices) are never taken for patterns
LC_ALL=C; LANG=C; LANGUAGE=C
export LC_ALL LANG LANGUAGE
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/bin"
export PATH

CAPTURE_VERSION=1
OUT=${1:-techcare-snapshot-$(hostname 2>/dev/null || echo host).json}
TMP=$(mktemp -d 2>/dev/null || mktemp -d -t techcare)
trap 'rm -rf "$TMP"' EXIT INT TERM
ENTRIES="$TMP/entries"
: > "$ENTRIES"
SEEN="$TMP/seen"
: > "$SEEN"

if command -v timeout >/dev/null 2>&1; then TIMEOUT=timeout
elif command -v gtimeout >/dev/null 2>&1; then TIMEOUT=gtimeout
else TIMEOUT=
fi

# ---- JSON helpers -------------------------------------------------------------------------------------------

# json_str TEXT -> a JSON string literal (quotes included); control characters other than tab/CR/LF dropped.
# A sentinel character keeps a trailing newline that awk's line splitting would otherwise swallow.
json_str() {
    printf '%s#' "$1" | tr -d '\000-\010\013\014\016-\037' | awk '
        {
            gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/\r/, "\\r")
            out = out (NR > 1 ? "\\n" : "") $0
        }
        END { printf "\"%s\"", substr(out, 1, length(out) - 1) }'
}

b64_file() { base64 < "$1" | tr -d '\n\r'; }

add_entry() {
    if [ -s "$ENTRIES" ]; then printf ',\n' >> "$ENTRIES"; fi
    printf '%s' "$1" >> "$ENTRIES"
}

# once KEY: true the first time KEY is seen (the same request is recorded only once)
once() {
    if grep -qxF -- "$1" "$SEEN" 2>/dev/null; then return 1; fi
    printf '%s\n' "$1" >> "$SEEN"
    return 0
}

# ---- recorders (one per entry kind) -------------------------------------------------------------------------

# cmd SECONDS ARGV... : run a command with a timeout and record argv, exit code, stdout and stderr.
rec_cmd() {
    secs=$1; shift
    once "cmd $*" || return 0
    argv=""
    for a in "$@"; do argv="$argv${argv:+, }$(json_str "$a")"; done
    if ! command -v "$1" >/dev/null 2>&1; then
        add_entry "{\"kind\": \"cmd\", \"argv\": [$argv], \"returncode\": null, \"stdout\": \"\", \"stderr\": $(json_str "$1: command not found"), \"error\": \"not_found\"}"
        return 0
    fi
    start=$(date +%s)
    rm -f "$TMP/timed_out"
    if [ -n "$TIMEOUT" ]; then
        "$TIMEOUT" -s KILL "$secs" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null
        rc=$?
        if { [ "$rc" -eq 137 ] || [ "$rc" -eq 124 ]; } && [ $(( $(date +%s) - start )) -ge "$secs" ]; then
            : > "$TMP/timed_out"
        fi
    else
        # no timeout(1) (stock macOS): a watchdog kills the command after $secs seconds
        "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null &
        pid=$!
        ( sleep "$secs"; if kill -0 "$pid" 2>/dev/null; then : > "$TMP/timed_out"; kill -9 "$pid" 2>/dev/null; fi ) &
        watchdog=$!
        wait "$pid"
        rc=$?
        kill "$watchdog" 2>/dev/null
        wait "$watchdog" 2>/dev/null
    fi
    dur=$(( $(date +%s) - start ))
    if [ -e "$TMP/timed_out" ]; then
        add_entry "{\"kind\": \"cmd\", \"argv\": [$argv], \"returncode\": null, \"stdout_b64\": \"$(b64_file "$TMP/out")\", \"stderr_b64\": \"$(b64_file "$TMP/err")\", \"duration\": $dur, \"error\": \"timeout\"}"
    else
        add_entry "{\"kind\": \"cmd\", \"argv\": [$argv], \"returncode\": $rc, \"stdout_b64\": \"$(b64_file "$TMP/out")\", \"stderr_b64\": \"$(b64_file "$TMP/err")\", \"duration\": $dur, \"error\": null}"
    fi
}

# file PATH : record a text file's content (first 2 MB) or why it cannot be read.
rec_file() {
    once "file $1" || return 0
    if [ -d "$1" ]; then
        add_entry "{\"kind\": \"file\", \"path\": $(json_str "$1"), \"content\": null, \"error\": \"is_a_directory\"}"
    elif [ ! -e "$1" ]; then
        add_entry "{\"kind\": \"file\", \"path\": $(json_str "$1"), \"content\": null, \"error\": \"not_found\"}"
    elif [ ! -r "$1" ]; then
        add_entry "{\"kind\": \"file\", \"path\": $(json_str "$1"), \"content\": null, \"error\": \"permission_denied\"}"
    else
        if head -c 2000000 "$1" > "$TMP/file" 2>/dev/null; then
            add_entry "{\"kind\": \"file\", \"path\": $(json_str "$1"), \"content_b64\": \"$(b64_file "$TMP/file")\", \"error\": null}"
        else    # e.g. a sysfs attribute the device refuses to answer (EIO): no content, as Python's read fails
            add_entry "{\"kind\": \"file\", \"path\": $(json_str "$1"), \"content\": null, \"error\": \"os_error\"}"
        fi
    fi
}

# dir PATH : record the sorted entry names of a directory (null when missing/unreadable).
rec_dir() {
    once "dir $1" || return 0
    if [ -d "$1" ] && [ -r "$1" ] && [ -x "$1" ]; then
        : > "$TMP/dir"
        ls -A "$1" 2>/dev/null | LC_ALL=C sort | while IFS= read -r name; do
            if [ -s "$TMP/dir" ]; then printf ', ' >> "$TMP/dir"; fi
            json_str "$name" >> "$TMP/dir"
        done
        add_entry "{\"kind\": \"dir\", \"name\": $(json_str "$1"), \"value\": [$(cat "$TMP/dir")]}"
    else
        add_entry "{\"kind\": \"dir\", \"name\": $(json_str "$1"), \"value\": null}"
    fi
}

# link_target PATH : print a symlink's target (readlink, or what `ls -ld` shows after " -> " where readlink is missing)
link_target() {
    if have readlink; then readlink "$1" 2>/dev/null; return; fi
    listing=$(ls -ld "$1" 2>/dev/null) || return 1
    case "$listing" in *" -> "*) printf '%s\n' "${listing#* -> }" ;; *) return 1 ;; esac
}

# link PATH : record the target of a symlink (null when PATH is no symlink).
rec_link() {
    once "link $1" || return 0
    if [ -L "$1" ] && target=$(link_target "$1"); then
        add_entry "{\"kind\": \"link\", \"name\": $(json_str "$1"), \"value\": $(json_str "$target")}"
    else
        add_entry "{\"kind\": \"link\", \"name\": $(json_str "$1"), \"value\": null}"
    fi
}

# which PROGRAM : record where a program is (null when not installed).
which_() {
    once "which $1" || return 0
    found=$(command -v "$1" 2>/dev/null || true)
    case "$found" in
        /*) add_entry "{\"kind\": \"which\", \"name\": $(json_str "$1"), \"value\": $(json_str "$found")}" ;;
        *) add_entry "{\"kind\": \"which\", \"name\": $(json_str "$1"), \"value\": null}" ;;
    esac
}

have() { command -v "$1" >/dev/null 2>&1; }

fact() {
    add_entry "{\"kind\": \"fact\", \"name\": $(json_str "$1"), \"value\": $2}"
}

# ---- facts (same JSON shapes as techcare/system/_facts.py) --------------------------------------------------

SKIP_FSTYPES=" tmpfs devtmpfs squashfs overlay proc sysfs devfs autofs ramfs cgroup cgroup2 nsfs tracefs debugfs securityfs pstore bpf configfs fusectl mqueue hugetlbfs efivarfs binfmt_misc rpc_pipefs nfsd fuse.lxcfs fuse.portal fuse.gvfsd-fuse nullfs map "

is_admin_json() { if [ "$(id -u)" = "0" ]; then echo true; else echo false; fi; }

host_fact() {
    os=$1
    extra=""
    if [ "$os" = "linux" ] && [ -r /etc/os-release ]; then
        distro=""
        while IFS= read -r line || [ -n "$line" ]; do
            case "$line" in
                ''|'#'*) continue ;;
                *=*) key=${line%%=*}; val=${line#*=}
                     val=$(printf '%s' "$val" | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/")
                     distro="$distro${distro:+, }$(json_str "$key"): $(json_str "$val")" ;;
            esac
        done < /etc/os-release
        extra=", \"distro\": {$distro}"
    elif [ "$os" = "darwin" ]; then
        extra=", \"mac_version\": $(json_str "$(sw_vers -productVersion 2>/dev/null)")"
    fi
    printf '{"hostname": %s, "os": "%s", "os_release": %s, "os_version": %s, "arch": %s, "python": null, "user": %s, "is_admin": %s%s}' \
        "$(json_str "$(hostname 2>/dev/null || uname -n)")" "$os" "$(json_str "$(uname -r)")" \
        "$(json_str "$(uname -v)")" "$(json_str "$(uname -m)")" "$(json_str "$(id -un 2>/dev/null)")" \
        "$(is_admin_json)" "$extra"
}

# df_json FSTYPE_OF_MOUNT_CMD : disks as JSON objects from `df -P -k` (+ fstype), bind mounts of one device once
disks_json() {
    os=$1
    if [ "$os" = "linux" ]; then
        df -P -k -T 2>/dev/null | awk -v skip="$SKIP_FSTYPES" '
            NR == 1 { next }
            { dev = $1; fs = $2; total = $3 * 1024; used = $4 * 1024; free = $5 * 1024
              mnt = $7; for (i = 8; i <= NF; i++) mnt = mnt " " $i
              if (index(skip, " " fs " ") || total == 0 || seen[dev]++) next
              pct = (used + free) > 0 ? used * 100 / (used + free) : 0
              gsub(/\\/, "\\\\", mnt); gsub(/"/, "\\\"", mnt)
              printf "%s{\"mount\": \"%s\", \"device\": \"%s\", \"fstype\": \"%s\", \"total\": %.0f, \"used\": %.0f, \"free\": %.0f, \"percent\": %.1f}", sep, mnt, dev, fs, total, used, free, pct
              sep = ", " }'
    else
        mount | awk '{ for (i = 1; i <= NF; i++) if ($i == "on") { dev = $1; rest = substr($0, index($0, " on ") + 4)
                          p = index(rest, " ("); mnt = substr(rest, 1, p - 1); fs = substr(rest, p + 2); sub(/[,)].*/, "", fs)
                          print dev "\t" fs "\t" mnt; break } }' > "$TMP/mounts"
        df -P -k 2>/dev/null | awk -v skip="$SKIP_FSTYPES" -v mounts="$TMP/mounts" '
            BEGIN { FS = "[ ]+"; while ((getline line < mounts) > 0) { split(line, m, "\t"); fstype[m[3]] = m[2] } }
            NR == 1 { next }
            { dev = $1; total = $2 * 1024; used = $3 * 1024; free = $4 * 1024
              mnt = $6; for (i = 7; i <= NF; i++) mnt = mnt " " $i
              fs = fstype[mnt]
              if (index(skip, " " fs " ") || total == 0 || seen[dev]++ || dev !~ /^\/dev\//) next
              pct = (used + free) > 0 ? used * 100 / (used + free) : 0
              gsub(/\\/, "\\\\", mnt); gsub(/"/, "\\\"", mnt)
              printf "%s{\"mount\": \"%s\", \"device\": \"%s\", \"fstype\": \"%s\", \"total\": %.0f, \"used\": %.0f, \"free\": %.0f, \"percent\": %.1f}", sep, mnt, dev, fs, total, used, free, pct
              sep = ", " }'
    fi
}

metrics_fact_linux() {
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat
    sleep 0.2 2>/dev/null || sleep 1
    read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ < /proc/stat
    cpu=$(awk -v a="$u1 $n1 $s1 $i1 $w1 $q1 $sq1 ${st1:-0}" -v b="$u2 $n2 $s2 $i2 $w2 $q2 $sq2 ${st2:-0}" 'BEGIN {
        split(a, x, " "); split(b, y, " "); t = 0; idle = (y[4] - x[4]) + (y[5] - x[5])
        for (i = 1; i <= 8; i++) t += y[i] - x[i]
        printf "%.1f", (t > 0 ? (t - idle) * 100 / t : 0) }')
    mem=$(awk '/^MemTotal:/ {t = $2} /^MemAvailable:/ {a = $2} /^MemFree:/ {f = $2} /^SwapTotal:/ {st = $2} /^SwapFree:/ {sf = $2}
        END { if (a == "") a = f; t *= 1024; a *= 1024; st *= 1024; sf *= 1024
              printf "\"ram_total\": %.0f, \"ram_available\": %.0f, \"ram_percent\": %.1f, \"swap\": {\"total\": %.0f, \"used\": %.0f, \"percent\": %.1f}",
                     t, a, (t > 0 ? (t - a) * 100 / t : 0), st, st - sf, (st > 0 ? (st - sf) * 100 / st : 0) }' /proc/meminfo)
    ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c '^processor' /proc/cpuinfo)
    btime=$(awk '/^btime/ {print $2}' /proc/stat)
    up=$(awk '{print $1}' /proc/uptime)
    load=$(awk '{printf "[%s, %s, %s]", $1, $2, $3}' /proc/loadavg)
    printf '{"cpu_percent": %s, "cpu_count": %s, %s, "disks": [%s], "boot_time": %s, "uptime_seconds": %s, "load_avg": %s, "timestamp": %s}' \
        "$cpu" "$ncpu" "$mem" "$(disks_json linux)" "${btime:-0}" "${up:-null}" "$load" "$(date +%s)"
}

metrics_fact_darwin() {
    cpu=$(top -l 2 -n 0 -s 1 2>/dev/null | awk '/CPU usage/ {u = $3; s = $5} END { gsub(/%/, "", u); gsub(/%/, "", s); printf "%.1f", u + s }')
    total=$(sysctl -n hw.memsize)
    page=$(sysctl -n hw.pagesize 2>/dev/null || echo 4096)
    avail=$(vm_stat | awk -v p="$page" '/Pages free/ {f = $3} /Pages inactive/ {i = $3}
        END { gsub(/\./, "", f); gsub(/\./, "", i); printf "%.0f", (f + i) * p }')
    swap=$(sysctl -n vm.swapusage 2>/dev/null | awk '{ t = $3; u = $6; sub(/M/, "", t); sub(/M/, "", u)
        printf "{\"total\": %.0f, \"used\": %.0f, \"percent\": %.1f}", t * 1048576, u * 1048576, (t > 0 ? u * 100 / t : 0) }')
    boot=$(sysctl -n kern.boottime | sed -e 's/.*sec = \([0-9]*\).*/\1/')
    now=$(date +%s)
    load=$(sysctl -n vm.loadavg | awk '{printf "[%s, %s, %s]", $2, $3, $4}')
    printf '{"cpu_percent": %s, "cpu_count": %s, "ram_total": %s, "ram_available": %s, "ram_percent": %s, "swap": %s, "disks": [%s], "boot_time": %s, "uptime_seconds": %s, "load_avg": %s, "timestamp": %s}' \
        "${cpu:-0}" "$(sysctl -n hw.logicalcpu 2>/dev/null || echo 1)" "$total" "$avail" \
        "$(awk -v t="$total" -v a="$avail" 'BEGIN { printf "%.1f", (t > 0 ? (t - a) * 100 / t : 0) }')" \
        "${swap:-null}" "$(disks_json darwin)" "$boot" "$((now - boot))" "$load" "$now"
}

# ---- Linux: the requests of techcare/system/recorded.py LINUX ---------------------------------------------
# (probes: techcare/system/_linux.py; drivers: techcare/tools/drivers/_linux.py). Loops are written one
# statement per line: the parity test reads this branch statically.

SHOW_PROPERTIES="Id,LoadState,ActiveState,SubState,UnitFileState"

# rec_module MODULE : a kernel module's sysfs folder and version; modinfo when sysfs has no version (as the
# drivers module's _module_version asks)
rec_module() {
    module=$1
    case "$module" in ''|.|..|*/*) return 0 ;; esac
    rec_dir "/sys/module/$module"
    rec_file "/sys/module/$module/version"
    version=$(head -n 1 "/sys/module/$module/version" 2>/dev/null | tr -d ' \t\r')
    if [ -z "$version" ]; then
        rec_cmd 10 modinfo -F version "$module"
    fi
}

# rec_modules_of DEVICE_DIR : the modules a bound device may name: its driver/module link, its driver name
rec_modules_of() {
    if [ -L "$1/driver/module" ] && target=$(link_target "$1/driver/module"); then
        rec_module "${target##*/}"
    fi
    if target=$(link_target "$1/driver"); then
        rec_module "$(printf '%s' "${target##*/}" | tr - _)"
    fi
}

capture_linux() {
    for tool in ufw firewall-cmd nft iptables clamscan smartctl apt dnf zypper pacman apk checkupdates needs-restarting rc-status; do
        which_ "$tool"
    done
    for tool in ufw firewall-cmd nft iptables smartctl; do        # admin tools outside a user's PATH
        for d in /usr/sbin /sbin /usr/local/sbin; do
            which_ "$d/$tool"
        done
    done
    # firewall
    if have ufw; then rec_cmd 15 ufw status; rec_file /etc/ufw/ufw.conf; fi
    if have firewall-cmd; then rec_cmd 15 firewall-cmd --state; fi
    if have nft; then rec_cmd 15 nft list ruleset; fi
    if have iptables; then rec_cmd 15 iptables -S; fi
    rec_file /proc/net/ip_tables_names
    # antivirus
    rec_cmd 15 systemctl show -p "$SHOW_PROPERTIES" clamav-daemon.service clamav-freshclam.service clamav-clamonacc.service
    if have clamscan; then rec_cmd 30 clamscan --version; fi
    # update service
    rec_cmd 15 systemctl show -p "$SHOW_PROPERTIES" unattended-upgrades.service apt-daily-upgrade.timer apt-daily.timer \
        dnf-automatic-install.timer dnf-automatic.timer dnf5-automatic.timer packagekit.service
    # failed services (the plain-text form is the fallback for systemd < 246)
    rec_cmd 15 systemctl --failed --output=json --no-pager
    rec_cmd 15 systemctl --failed --no-legend --plain --no-pager
    # OpenRC (Alpine, Gentoo), asked where systemd is not running
    if have rc-status; then rec_file /run/openrc/softlevel; rec_cmd 15 rc-status --all --nocolor; fi
    # pending updates
    if have apt; then rec_cmd 60 apt list --upgradable
    elif have dnf; then rec_cmd 120 dnf --cacheonly check-update; rec_cmd 120 dnf --cacheonly updateinfo list
    elif have zypper; then
        rec_cmd 120 zypper --non-interactive --no-refresh --xmlout list-updates
        rec_cmd 120 zypper --non-interactive --no-refresh --xmlout list-patches
    elif have pacman; then
        if have checkupdates; then rec_cmd 120 checkupdates; else rec_cmd 60 pacman -Qu; fi
    elif have apk; then rec_cmd 60 apk --no-network version -l '<'
    fi
    # pending reboot
    rec_file /var/run/reboot-required
    if [ -e /var/run/reboot-required ]; then rec_file /var/run/reboot-required.pkgs; fi
    if have needs-restarting; then rec_cmd 60 needs-restarting -r
    elif have dnf; then rec_cmd 60 dnf needs-restarting -r
    fi
    rec_dir /boot
    rec_dir /lib/modules
    # events
    rec_cmd 30 journalctl -p err -b -n 5 -o json --no-pager
    rec_dir /run/systemd/system
    # SMART: every physical disk in /sys/block
    rec_dir /sys/block
    if have smartctl; then
        for disk in $(ls /sys/block 2>/dev/null | LC_ALL=C sort); do
            case "$disk" in
                loop*|ram*|zram*|dm-*|md*|sr*|fd*|nbd*|rbd*|drbd*|bcache*|zd*) continue ;;
                mmcblk*boot*|mmcblk*rpmb*) continue ;;
            esac
            rec_cmd 60 smartctl --json -a "/dev/$disk"
        done
    fi
    # driver inventory (techcare/tools/drivers/_linux.py): lspci, fwupd, and the sysfs walk over PCI and USB
    rec_cmd 20 lspci -vmmnnk
    rec_cmd 60 fwupdmgr get-devices --json
    rec_cmd 120 fwupdmgr get-updates --json --no-metadata-check
    rec_file /proc/sys/kernel/osrelease
    rec_dir /sys/bus/pci/devices
    for slot in $(ls -A /sys/bus/pci/devices 2>/dev/null | LC_ALL=C sort); do
        for attr in vendor device subsystem_vendor subsystem_device revision class; do
            rec_file "/sys/bus/pci/devices/$slot/$attr"
        done
        rec_link "/sys/bus/pci/devices/$slot/driver"
        if [ -L "/sys/bus/pci/devices/$slot/driver" ]; then
            rec_link "/sys/bus/pci/devices/$slot/driver/module"
            rec_modules_of "/sys/bus/pci/devices/$slot"
        fi
    done
    rec_dir /sys/bus/usb/devices
    for device in $(ls -A /sys/bus/usb/devices 2>/dev/null | LC_ALL=C sort); do
        case "$device" in *:*) continue ;; esac
        for attr in idVendor idProduct bcdDevice bDeviceClass product manufacturer; do
            rec_file "/sys/bus/usb/devices/$device/$attr"
        done
    done
    for interface in $(ls -A /sys/bus/usb/devices 2>/dev/null | LC_ALL=C sort); do
        case "$interface" in *:*) ;; *) continue ;; esac
        rec_link "/sys/bus/usb/devices/$interface/driver"
        rec_file "/sys/bus/usb/devices/$interface/bInterfaceClass"
        if [ -L "/sys/bus/usb/devices/$interface/driver" ]; then
            rec_link "/sys/bus/usb/devices/$interface/driver/module"
            rec_modules_of "/sys/bus/usb/devices/$interface"
        fi
    done
}

# ---- macOS: the requests of techcare/system/recorded.py DARWIN ----------------------------------------------
# (probes: techcare/system/_macos.py; drivers: techcare/tools/drivers/_macos.py)

# whole_disks < plist : the WholeDisks entries of `diskutil list -plist`, one per line
whole_disks() {
    awk '/<key>WholeDisks<\/key>/ { on = 1; next }
         on && /<\/array>/ { exit }
         on { if (match($0, /<string>[^<]*<\/string>/)) print substr($0, RSTART + 8, RLENGTH - 17) }'
}

capture_darwin() {
    rec_cmd 30 /usr/libexec/ApplicationFirewall/socketfilterfw --getglobalstate
    rec_cmd 30 /usr/sbin/softwareupdate --schedule
    rec_cmd 300 /usr/sbin/softwareupdate -l        # pending updates and reboot, and Apple's driver/firmware updates
    rec_cmd 30 /bin/launchctl list
    rec_cmd 60 /usr/bin/log show --last 1h --predicate "messageType == error" --style json
    rec_cmd 30 /usr/sbin/diskutil list -plist
    rec_cmd 60 /usr/sbin/system_profiler SPInstallHistoryDataType -json
    # every whole disk of `diskutil list -plist` (WholeDisks array)
    for disk in $(/usr/sbin/diskutil list -plist 2>/dev/null | whole_disks); do
        rec_cmd 30 /usr/sbin/diskutil info -plist "$disk"
    done
    rec_file /Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist
    rec_file /System/Library/CoreServices/XProtect.bundle/Contents/Info.plist
    rec_file /System/Library/CoreServices/CoreTypes.bundle/Contents/Resources/XProtect.meta.plist
    rec_dir /Applications
    # driver inventory (techcare/tools/drivers/_macos.py); Apple's updates come from softwareupdate -l above
    rec_cmd 120 /usr/sbin/system_profiler SPExtensionsDataType -json
    rec_cmd 30 /usr/bin/systemextensionsctl list
}

# ---- main ---------------------------------------------------------------------------------------------------

# Tests source this file with TECHCARE_CAPTURE_SOURCE_ONLY=1 to check the helpers alone.
if [ "${TECHCARE_CAPTURE_SOURCE_ONLY:-}" = 1 ]; then return 0 2>/dev/null || exit 0; fi

case "$(uname -s)" in
    Linux) PLATFORM=linux ;;
    Darwin) PLATFORM=darwin ;;
    *) echo "capture.sh: unsupported system $(uname -s) (Linux and macOS only; use capture.ps1 on Windows)" >&2; exit 2 ;;
esac

HOST=$(host_fact "$PLATFORM")
fact host "$HOST"
if [ "$PLATFORM" = linux ]; then
    fact metrics "$(metrics_fact_linux)"
    capture_linux
else
    fact metrics "$(metrics_fact_darwin)"
    capture_darwin
fi

CREATED=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
{
    printf '{"format": "techcare-snapshot", "version": %s, "created": "%s", "platform": "%s",\n' "$CAPTURE_VERSION" "$CREATED" "$PLATFORM"
    printf ' "host": %s,\n' "$HOST"
    printf ' "capture": {"tool": "capture.sh", "user": %s, "is_admin": %s},\n' "$(json_str "$(id -un 2>/dev/null)")" "$(is_admin_json)"
    printf ' "entries": [\n'
    cat "$ENTRIES"
    printf '\n]}\n'
} > "$TMP/snapshot.json" && mv "$TMP/snapshot.json" "$OUT" || { echo "capture.sh: cannot write $OUT" >&2; exit 1; }
if [ "$(id -u)" != "0" ]; then
    echo "capture.sh: not run as root: SMART data, ufw and nftables state will show as 'needs elevation'." >&2
fi
echo "TechCare snapshot written to $OUT" >&2
