/* SPDX-License-Identifier: GPL-2.0 */
/* bpffs.h - where an instance's maps and links are pinned. */
#ifndef BPFMASQ_USER_BPFFS_H
#define BPFMASQ_USER_BPFFS_H

#include <stdbool.h>
#include <stddef.h>

/* Mount a bpf filesystem on @root unless one is there. */
int bpffs_ensure(const char *root);
/*
 * Commands that change an instance's state (attach, detach, flush, gc and
 * each tick of run) take this lock on @root, one at a time. Returns the fd
 * that holds it, or -errno with a message printed.
 */
int bpffs_lock(const char *root);
void bpffs_unlock(int fd);
/* <dir>/<name> into @buf; -ENAMETOOLONG if it does not fit. */
int pin_path(char *buf, size_t len, const char *dir, const char *name);
/* <root>/bpfmasq/<ifname> into @buf. */
int pin_dir(char *buf, size_t len, const char *root, const char *ifname);
/* <root>/bpfmasq into @buf. */
int pin_base(char *buf, size_t len, const char *root);
/* The pin dir of an attached instance, or a message and -ENOENT. */
int instance_dir(char *buf, size_t len, const char *root, const char *ifname);
/* Is an instance pinned in @dir? */
bool pin_dir_exists(const char *dir);
/* Remove every pin in @dir, then @dir and, if empty, its parent. */
int pin_dir_remove(const char *dir);

#endif /* BPFMASQ_USER_BPFFS_H */
