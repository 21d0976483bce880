/**
 * The two fixed scripts a lab runs. They take positional arguments only and are written once per
 * lab into `$LAB/bin`, so the command line of every lab process names its lab's directory and
 * prefix: teardown can recognise them without a pattern that could match anything else.
 */

/**
 * PID 1 of a lab host. Arguments: `<namespace> <hostdir>`; the namespace is `vd<lab>-<host>`.
 * Bash as PID 1 reaps re-parented orphans (Postfix's master, FUSE helpers); a PID namespace's
 * init ignores signals it has no handler for, so only SIGKILL from outside ends it — with every
 * process of the host.
 */
export const HOSTINIT = `#!/bin/bash
# Vard lab host init: PID 1 of one lab host. Written by Vard; do not edit.
# Usage: hostinit <namespace vd<lab>-<host>> <host directory>
set -eu
ns=$1
H=$2
host=\${ns#*-}
# This mount namespace began as a copy of the machine's, including the nsfs mounts under
# /run/netns of every namespace that existed then (other labs'). Those copies would keep the other
# labs' namespaces, and their root uplinks, alive after their teardown; and with private
# propagation no unmount from root ever reaches them. Drop them, deepest first.
while read -r _ _ _ _ mp _; do
  case $mp in /run/*) echo "$mp" ;; esac
done < /proc/self/mountinfo | sort -r | while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
# /etc first: an overlay gives the host its own /etc (passwd for per-site users, daemon configs)
# over the machine's, with its changes kept in $H/etc-upper like on a disk.
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$H/etc-upper,workdir=$H/etc-work" /etc
hostname "$host"
# Private /run (fresh on every boot: the caller wiped it), /var/log, /srv, /tmp, /root and /dev/shm.
mount --bind "$H/run" /run
mkdir -p /run/lock
chmod 1777 /run/lock
mount --bind "$H/varlog" /var/log
mount --bind "$H/srv" /srv
mount --bind "$H/tmp" /tmp
chmod 1777 /tmp
# Root's own home, as on a machine of its own: the machine's ~/.bashrc (which bash sources for
# every command sshd starts) is this machine's operator's, not the host's.
mount --bind "$H/root" /root
mount -t tmpfs -o size=64m,mode=1777 tmpfs /dev/shm
ip link set lo up
echo "$$ $host" > /run/vard-init.ready
set +e
while :; do sleep 3600 & wait; done
`;

/**
 * The lab's owner: one `sleep infinity` in the switch namespace, renamed so that its cmdline names
 * the lab. Argument: the lab prefix. It outlives the `vard lab up` that started it, so a lab built
 * from the CLI does not look stale the moment the CLI exits; it dies only when teardown kills it,
 * or when the machine reboots — then its start time no longer matches and the lab is stale.
 */
export const KEEPER = `#!/bin/bash
# Vard lab keeper: owner process of lab prefix $1. Written by Vard; do not edit.
exec -a "vard-lab-keeper:$1" sleep infinity
`;
