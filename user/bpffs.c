// SPDX-License-Identifier: GPL-2.0
/*
 * bpffs.c - pins under <bpffs>/bpfmasq/<ifname>/. The bpf filesystem is
 * mounted on demand; note that a mount made inside `ip netns exec` lives
 * only as long as that command, so tests mount one beforehand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "bpffs.h"
#include "bpfmasq.h"
#include "log.h"

/* How long a command waits for another one: 10 s. */
#define BPFFS_LOCK_WAIT_US 50000
#define BPFFS_LOCK_TRIES 200

/* True for an empty or missing directory. */
static bool dir_is_empty(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	bool empty = true;

	if (!d)
		return errno == ENOENT;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

int bpffs_ensure(const char *root)
{
	struct statfs st;

	if (!statfs(root, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	/* Mounting over a directory with files in it would hide them. */
	if (!dir_is_empty(root)) {
		pr_err("%s is not a bpf filesystem and not empty: refusing to mount one over it",
		       root);
		return -ENOTEMPTY;
	}
	if (mkdir(root, 0700) && errno != EEXIST) {
		pr_err("cannot create %s: %s", root, strerror(errno));
		return -errno;
	}
	if (mount("bpf", root, "bpf", 0, "mode=0700")) {
		pr_err("cannot mount a bpf filesystem on %s: %s", root,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

int bpffs_lock(const char *root)
{
	int fd, tries;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_err("cannot open %s: %s", root, strerror(errno));
		return -errno;
	}
	/* Bounded: a command that hangs must not hang every other one. */
	for (tries = 0; flock(fd, LOCK_EX | LOCK_NB); tries++) {
		if (errno != EWOULDBLOCK || tries == BPFFS_LOCK_TRIES) {
			pr_err("another bpfmasq command holds %s: %s", root,
			       errno == EWOULDBLOCK ? "gave up waiting"
						    : strerror(errno));
			close(fd);
			return -EBUSY;
		}
		usleep(BPFFS_LOCK_WAIT_US);
	}
	return fd;
}

void bpffs_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the lock */
}

int pin_base(char *buf, size_t len, const char *root)
{
	if ((size_t)snprintf(buf, len, "%s/%s", root, BPFMASQ_PIN_SUBDIR) >=
	    len)
		return -ENAMETOOLONG;
	return 0;
}

int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int pin_dir(char *buf, size_t len, const char *root, const char *ifname)
{
	if ((size_t)snprintf(buf, len, "%s/%s/%s", root, BPFMASQ_PIN_SUBDIR,
			     ifname) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int instance_dir(char *buf, size_t len, const char *root, const char *ifname)
{
	if (pin_dir(buf, len, root, ifname))
		return -ENAMETOOLONG;
	if (!pin_dir_exists(buf)) {
		pr_err("%s: not attached (nothing pinned in %s)", ifname, buf);
		return -ENOENT;
	}
	return 0;
}

bool pin_dir_exists(const char *dir)
{
	char path[PATH_MAX];

	return !pin_path(path, sizeof(path), dir, "config") &&
	       access(path, F_OK) == 0;
}

int pin_dir_remove(const char *dir)
{
	char path[PATH_MAX], *slash;
	struct dirent *de;
	DIR *d = opendir(dir);
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((pin_path(path, sizeof(path), dir, de->d_name) ||
		     unlink(path)) &&
		    !err)
			err = -errno;
	}
	closedir(d);
	if (rmdir(dir) && !err)
		err = -errno;
	snprintf(path, sizeof(path), "%s", dir);
	slash = strrchr(path, '/');
	if (slash) {
		*slash = '\0';
		rmdir(path); /* only succeeds when no other instance is left */
	}
	return err;
}
