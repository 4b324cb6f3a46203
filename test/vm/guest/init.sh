#!/bin/busybox sh
# PID 1 of the test guest. Loads the virtio-9p modules, builds a tmpfs root whose /usr and /etc
# are the host's (read-only 9p), with the repository (read-only, cached) at /repo and the results
# folder (read-write) at /results, chroots into it to run /results/run.sh with the host's own
# shell and node, and powers off. QEMU's exit status is 0 whatever the suite did: the host reads
# the verdict from /results.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "vm-init: started at $(cut -d' ' -f1 /proc/uptime)s"
for module in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$module.ko" || echo "vm-init: insmod $module failed"
done

share='trans=virtio,version=9p2000.L,msize=512000'
root=/newroot
mount -t tmpfs -o mode=0755 root "$root"
mkdir -p "$root/usr" "$root/etc" "$root/repo" "$root/results" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run"
for dir in bin lib lib64 sbin; do ln -s "usr/$dir" "$root/$dir"; done
mount -t 9p -o "$share,cache=loose,ro" usr "$root/usr" &&
  mount -t 9p -o "$share,cache=loose,ro" etc "$root/etc" &&
  mount -t 9p -o "$share,cache=loose,ro" repo "$root/repo" &&
  mount -t 9p -o "$share" results "$root/results" || {
  echo 'vm-init: mounting the 9p shares failed'
  poweroff -f
}
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
mount -t bpf bpf "$root/sys/fs/bpf"
mount -t devtmpfs devtmpfs "$root/dev"
mount -t tmpfs -o mode=1777 tmp "$root/tmp"
mount -t tmpfs tmp "$root/run"

echo "vm-init: ready at $(cut -d' ' -f1 /proc/uptime)s"
chroot "$root" /bin/sh /results/run.sh
echo "vm-init: run.sh ended at $(cut -d' ' -f1 /proc/uptime)s"
sync
umount "$root/results"
poweroff -f
