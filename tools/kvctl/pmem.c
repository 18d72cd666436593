// SPDX-License-Identifier: MIT
/*
 * pmem.c -- where a database lives, the pmem devices of this machine and
 * the daxmirror module: devices, info's placement section and mirror.
 *
 * File system facts come from the directory's mount (statfs for the type,
 * /proc/self/mountinfo for the source device and the dax mount option,
 * statx's STATX_ATTR_DAX for the files themselves).  Device facts come
 * from libndctl and libdaxctl, never from sysfs by hand: the namespace
 * under a file system is the one whose block device (its own, or that of
 * its pfn or btt) is the mount's source device or a partition of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <daxctl/libdaxctl.h>
#include <ndctl/libndctl.h>

#include "kvctl.h"

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000
#endif

static const char *kv_fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x01021994: return "tmpfs";
	case 0x9123683E: return "btrfs";
	case 0x794c7630: return "overlay";
	case 0x6969: return "nfs";
	case 0x2011BAB0: return "exfat";
	case 0xF2F52010: return "f2fs";
	case 0x65735546: return "fuse";
	default: return "other";
	}
}

static const char *kv_ns_mode_name(enum ndctl_namespace_mode mode)
{
	switch (mode) {
	case NDCTL_NS_MODE_FSDAX: return "fsdax";
	case NDCTL_NS_MODE_DEVDAX: return "devdax";
	case NDCTL_NS_MODE_RAW: return "raw";
	case NDCTL_NS_MODE_SECTOR: return "sector";
	default: return "unknown";
	}
}

/* The mount of @p dev: mount point, fs type, source, options. */
struct kv_mount {
	char point[PATH_MAX], fstype[64], source[PATH_MAX], options[1024];
	bool found;
};

static void kv_find_mount(dev_t dev, struct kv_mount *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL;
	size_t cap = 0;

	memset(m, 0, sizeof(*m));
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		char point[PATH_MAX], mopts[512], fstype[64], source[PATH_MAX],
			sopts[512];
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*d %*d %u:%u %*s %4095s %511s", &maj,
				   &min, point, mopts) != 4 ||
		    sscanf(sep + 3, "%63s %4095s %511s", fstype, source, sopts) != 3)
			continue;
		if (makedev(maj, min) != dev)
			continue;
		/* the last match is the one on top */
		snprintf(m->point, sizeof(m->point), "%s", point);
		snprintf(m->fstype, sizeof(m->fstype), "%s", fstype);
		snprintf(m->source, sizeof(m->source), "%s", source);
		snprintf(m->options, sizeof(m->options), "%s,%s", mopts, sopts);
		m->found = true;
	}
	free(line);
	fclose(f);
}

/* "always", "never", "inode" or "" from a dax mount option. */
static const char *kv_dax_option(const char *options)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", options);
	for (char *opt = strtok_r(buf, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (!strcmp(opt, "dax") || !strcmp(opt, "dax=always"))
			return "always";
		if (!strcmp(opt, "dax=never"))
			return "never";
		if (!strcmp(opt, "dax=inode"))
			return "inode";
	}
	return "";
}

/* Is @p bdev ("pmem0") the device @p source names, or a partition of it? */
static bool kv_source_is(const char *source, const char *bdev)
{
	const char *base = strrchr(source, '/');
	size_t len = strlen(bdev);

	base = base ? base + 1 : source;
	if (strncmp(base, bdev, len) != 0)
		return false;
	if (!base[len])
		return true;
	if (base[len] != 'p')
		return false;
	for (const char *p = base + len + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return base[len + 1] != '\0';
}

static const char *kv_ns_blockdev(struct ndctl_namespace *ndns)
{
	struct ndctl_pfn *pfn = ndctl_namespace_get_pfn(ndns);
	struct ndctl_btt *btt = ndctl_namespace_get_btt(ndns);
	const char *name;

	if (pfn && (name = ndctl_pfn_get_block_device(pfn)) && *name)
		return name;
	if (btt && (name = ndctl_btt_get_block_device(btt)) && *name)
		return name;
	name = ndctl_namespace_get_block_device(ndns);
	return name && *name ? name : NULL;
}

static unsigned long kv_ns_align(struct ndctl_namespace *ndns)
{
	struct ndctl_pfn *pfn = ndctl_namespace_get_pfn(ndns);
	struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);

	if (pfn)
		return ndctl_pfn_get_align(pfn);
	if (dax)
		return ndctl_dax_get_align(dax);
	return ndctl_region_get_align(ndctl_namespace_get_region(ndns));
}

/* What this namespace is good for, from daxkv's point of view. */
static const char *kv_ns_hint(struct ndctl_namespace *ndns)
{
	switch (ndctl_namespace_get_mode(ndns)) {
	case NDCTL_NS_MODE_FSDAX:
		return kv_ns_align(ndns) >= (2ul << 20) ?
			       "databases: mount a file system -o dax on it" :
			       "databases, but align below 2M: no huge-page "
			       "mappings";
	case NDCTL_NS_MODE_DEVDAX:
		return "no file system: not for databases";
	default:
		return "no DAX: databases would fall back to msync";
	}
}

static json_object *kv_ns_json(struct ndctl_namespace *ndns)
{
	json_object *obj = json_object_new_object(), *daxdevs;
	struct ndctl_region *region = ndctl_namespace_get_region(ndns);
	struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
	struct badblock *bb;
	const char *bdev = kv_ns_blockdev(ndns);
	uint64_t nbad = 0;

	ndctl_namespace_badblock_foreach(ndns, bb)
		nbad++;
	json_object_object_add(obj, "namespace",
			       json_object_new_string(ndctl_namespace_get_devname(ndns)));
	json_object_object_add(obj, "region",
			       json_object_new_string(ndctl_region_get_devname(region)));
	json_object_object_add(obj, "mode",
			       json_object_new_string(kv_ns_mode_name(ndctl_namespace_get_mode(ndns))));
	json_object_object_add(obj, "size",
			       json_object_new_uint64(ndctl_namespace_get_size(ndns)));
	json_object_object_add(obj, "align", json_object_new_uint64(kv_ns_align(ndns)));
	json_object_object_add(obj, "numa_node",
			       json_object_new_int(ndctl_namespace_get_numa_node(ndns)));
	json_object_object_add(obj, "badblocks", json_object_new_uint64(nbad));
	json_object_object_add(obj, "blockdev",
			       bdev ? json_object_new_string(bdev) : NULL);
	json_object_object_add(obj, "daxkv_hint",
			       json_object_new_string(kv_ns_hint(ndns)));
	daxdevs = json_object_new_array();
	if (dax) {
		struct daxctl_region *dregion = ndctl_dax_get_daxctl_region(dax);
		struct daxctl_dev *dev;

		if (dregion)
			daxctl_dev_foreach(dregion, dev)
				json_object_array_add(daxdevs,
						      json_object_new_string(daxctl_dev_get_devname(dev)));
	}
	json_object_object_add(obj, "dax_devices", daxdevs);
	return obj;
}

json_object *kv_placement(const char *dir)
{
	json_object *obj = json_object_new_object(), *ns = NULL;
	struct kv_mount m;
	struct statfs sfs;
	struct statx stx;
	struct stat st;
	char path[PATH_MAX + 32];
	struct ndctl_ctx *ctx = NULL;
	struct ndctl_bus *bus;
	struct ndctl_region *region;
	struct ndctl_namespace *ndns;
	const char *why = NULL;

	if (stat(dir, &st) != 0 || statfs(dir, &sfs) != 0) {
		json_object_object_add(obj, "error", json_object_new_string(strerror(errno)));
		return obj;
	}
	kv_find_mount(st.st_dev, &m);
	json_object_object_add(obj, "fs_type",
			       json_object_new_string(m.found ? m.fstype :
							       kv_fs_name(sfs.f_type)));
	json_object_object_add(obj, "mount_point",
			       m.found ? json_object_new_string(m.point) : NULL);
	json_object_object_add(obj, "source",
			       m.found ? json_object_new_string(m.source) : NULL);
	json_object_object_add(obj, "dax_mount_option",
			       json_object_new_string(m.found ? kv_dax_option(m.options) : ""));
	/* the DAX state the kernel reports for the first segment, else meta */
	snprintf(path, sizeof(path), "%s/seg-00000000.dat", dir);
	if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx) != 0) {
		snprintf(path, sizeof(path), "%s/meta.pool", dir);
		if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx) != 0)
			stx.stx_attributes_mask = 0;
	}
	json_object_object_add(obj, "file_dax",
			       (stx.stx_attributes_mask & STATX_ATTR_DAX) ?
				       json_object_new_boolean(!!(stx.stx_attributes &
								  STATX_ATTR_DAX)) :
				       NULL);

	if (!m.found || m.source[0] != '/') {
		why = "the file system has no block device";
	} else if (ndctl_new(&ctx) != 0) {
		why = "libndctl cannot enumerate devices here";
		ctx = NULL;
	} else {
		ndctl_bus_foreach(ctx, bus) {
			ndctl_region_foreach(bus, region) {
				ndctl_namespace_foreach(region, ndns) {
					const char *bdev = kv_ns_blockdev(ndns);

					if (!ns && bdev && kv_source_is(m.source, bdev))
						ns = kv_ns_json(ndns);
				}
			}
		}
		if (!ns)
			why = "no NVDIMM namespace backs this file system";
	}
	json_object_object_add(obj, "on_pmem", json_object_new_boolean(ns != NULL));
	json_object_object_add(obj, "namespace", ns);
	if (why)
		json_object_object_add(obj, "not_on_pmem_reason",
				       json_object_new_string(why));
	ndctl_unref(ctx);
	return obj;
}

static const char *kv_str(json_object *obj, const char *name)
{
	json_object *field;

	if (!json_object_object_get_ex(obj, name, &field) || !field)
		return NULL;
	return json_object_get_string(field);
}

void kv_placement_print(json_object *p)
{
	json_object *ns = json_object_object_get(p, "namespace"), *fd;
	const char *dax = kv_str(p, "dax_mount_option");

	printf("placement\n");
	if (kv_str(p, "error")) {
		printf("  error            %s\n", kv_str(p, "error"));
		return;
	}
	printf("  file system      %s", kv_str(p, "fs_type"));
	if (kv_str(p, "mount_point"))
		printf(" on %s (%s)", kv_str(p, "mount_point"),
		       kv_str(p, "source"));
	printf("\n  dax mount option %s\n", dax && *dax ? dax : "none");
	fd = json_object_object_get(p, "file_dax");
	printf("  files use DAX    %s\n",
	       fd ? (json_object_get_boolean(fd) ? "yes" : "no") : "unknown");
	if (!ns) {
		printf("  namespace        not on pmem (%s)\n",
		       kv_str(p, "not_on_pmem_reason"));
		return;
	}
	printf("  namespace        %s in %s, mode %s, size %s, align %s, numa "
	       "node %s, %s bad blocks\n",
	       kv_str(ns, "namespace"), kv_str(ns, "region"), kv_str(ns, "mode"),
	       kv_str(ns, "size"), kv_str(ns, "align"), kv_str(ns, "numa_node"),
	       kv_str(ns, "badblocks"));
}

/* ---- devices ---- */

static const char kv_devices_help[] =
	"usage: kvctl devices [--json]\n"
	"List the pmem regions and namespaces (libndctl) and the dax devices\n"
	"(libdaxctl) of this machine: mode, size, alignment, NUMA node, bad\n"
	"blocks.  Says \"no pmem found\" when there is none.\n";

static const struct option kv_simple_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int kv_simple_parse(int argc, char **argv, const char *help, bool *json)
{
	int opt;

	*json = false;
	while ((opt = getopt_long(argc, argv, "jh", kv_simple_longopts, NULL)) != -1) {
		if (opt == 'j')
			*json = true;
		else if (opt == 'h')
			return kv_help(help);
		else
			return kv_usage_error(argv[0], "bad option");
	}
	if (optind != argc)
		return kv_usage_error(argv[0], "takes no arguments ('%s')",
				      argv[optind]);
	return -1;
}

int kv_cmd_devices(int argc, char **argv)
{
	json_object *obj, *regions, *daxdevs;
	struct ndctl_ctx *ctx = NULL;
	struct daxctl_ctx *dctx = NULL;
	struct ndctl_bus *bus;
	struct ndctl_region *region;
	struct ndctl_namespace *ndns;
	struct daxctl_region *dregion;
	struct daxctl_dev *ddev;
	const char *why = NULL;
	bool json;
	int rc;

	rc = kv_simple_parse(argc, argv, kv_devices_help, &json);
	if (rc >= 0)
		return rc;
	obj = json_object_new_object();
	regions = json_object_new_array();
	daxdevs = json_object_new_array();
	if (ndctl_new(&ctx) != 0) {
		ctx = NULL;
		why = "libndctl cannot enumerate devices here";
	} else {
		ndctl_bus_foreach(ctx, bus) {
			ndctl_region_foreach(bus, region) {
				json_object *r = json_object_new_object(), *nss;
				struct badblock *bb;
				uint64_t nbad = 0;

				ndctl_region_badblock_foreach(region, bb)
					nbad++;
				json_object_object_add(r, "region",
						       json_object_new_string(ndctl_region_get_devname(region)));
				json_object_object_add(r, "type",
						       json_object_new_string(ndctl_region_get_type_name(region)));
				json_object_object_add(r, "size",
						       json_object_new_uint64(ndctl_region_get_size(region)));
				json_object_object_add(r, "align",
						       json_object_new_uint64(ndctl_region_get_align(region)));
				json_object_object_add(r, "numa_node",
						       json_object_new_int(ndctl_region_get_numa_node(region)));
				json_object_object_add(r, "badblocks",
						       json_object_new_uint64(nbad));
				json_object_object_add(r, "provider",
						       json_object_new_string(ndctl_bus_get_provider(bus)));
				nss = json_object_new_array();
				ndctl_namespace_foreach(region, ndns)
					if (ndctl_namespace_get_size(ndns))
						json_object_array_add(nss, kv_ns_json(ndns));
				json_object_object_add(r, "namespaces", nss);
				json_object_array_add(regions, r);
			}
		}
	}
	if (daxctl_new(&dctx) == 0) {
		daxctl_region_foreach(dctx, dregion) {
			daxctl_dev_foreach(dregion, ddev) {
				json_object *d = json_object_new_object();
				struct daxctl_memory *mem = daxctl_dev_get_memory(ddev);

				json_object_object_add(d, "chardev",
						       json_object_new_string(daxctl_dev_get_devname(ddev)));
				json_object_object_add(d, "size",
						       json_object_new_uint64(daxctl_dev_get_size(ddev)));
				json_object_object_add(d, "align",
						       json_object_new_uint64(daxctl_dev_get_align(ddev)));
				json_object_object_add(d, "mode",
						       json_object_new_string(mem && daxctl_memory_is_online(mem) > 0 ?
									      "system-ram" : "devdax"));
				json_object_array_add(daxdevs, d);
			}
		}
	}
	json_object_object_add(obj, "pmem_found",
			       json_object_new_boolean(json_object_array_length(regions) ||
						       json_object_array_length(daxdevs)));
	json_object_object_add(obj, "regions", regions);
	json_object_object_add(obj, "dax_devices", daxdevs);
	if (why)
		json_object_object_add(obj, "note", json_object_new_string(why));
	if (json) {
		kv_json_print(obj);
	} else if (!json_object_array_length(regions) &&
		   !json_object_array_length(daxdevs)) {
		printf("no pmem found: no NVDIMM region or dax device on this "
		       "machine%s%s\n", why ? " (" : "", why ? why : "");
		if (why)
			printf(")\n");
	} else {
		for (size_t i = 0; i < json_object_array_length(regions); i++) {
			json_object *r = json_object_array_get_idx(regions, i);
			json_object *nss = json_object_object_get(r, "namespaces");

			printf("%s  %s, size %s, align %s, numa node %s, %s bad "
			       "blocks\n",
			       kv_str(r, "region"), kv_str(r, "type"),
			       kv_str(r, "size"), kv_str(r, "align"),
			       kv_str(r, "numa_node"), kv_str(r, "badblocks"));
			for (size_t j = 0; j < json_object_array_length(nss); j++) {
				json_object *n = json_object_array_get_idx(nss, j);

				printf("  %s  mode %s, size %s, align %s, %s bad "
				       "blocks%s%s\n    (%s)\n",
				       kv_str(n, "namespace"), kv_str(n, "mode"),
				       kv_str(n, "size"), kv_str(n, "align"),
				       kv_str(n, "badblocks"),
				       kv_str(n, "blockdev") ? ", /dev/" : "",
				       kv_str(n, "blockdev") ? kv_str(n, "blockdev") : "",
				       kv_str(n, "daxkv_hint"));
			}
		}
		for (size_t i = 0; i < json_object_array_length(daxdevs); i++) {
			json_object *d = json_object_array_get_idx(daxdevs, i);

			printf("%s  %s, size %s, align %s\n", kv_str(d, "chardev"),
			       kv_str(d, "mode"), kv_str(d, "size"),
			       kv_str(d, "align"));
		}
	}
	json_object_put(obj);
	daxctl_unref(dctx);
	ndctl_unref(ctx);
	return KV_EXIT_OK;
}

/* ---- mirror ---- */

static const char kv_mirror_help[] =
	"usage: kvctl mirror [--json]\n"
	"Say whether the daxmirror kernel module is loaded (/sys/module/daxmirror,\n"
	"/dev/daxmirror), its version, and how much it mirrors right now: open\n"
	"device address spaces (files), mirrored ranges and device page-table\n"
	"bytes, summed over all processes (/sys/class/misc/daxmirror/live_*,\n"
	"readable by root only since module 0.3.0: left out otherwise).\n";

/* A counter from /sys/class/misc/daxmirror, or -1 if absent. */
static long long kv_mirror_counter(const char *root, const char *name)
{
	char path[PATH_MAX];
	long long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/class/misc/daxmirror/%s", root,
		 name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

int kv_cmd_mirror(int argc, char **argv)
{
	const char *root = getenv("KVCTL_SYSROOT"); /* tests only */
	char modpath[PATH_MAX], devpath[PATH_MAX], verpath[PATH_MAX + 16],
		version[128] = "";
	struct stat st;
	bool module, device, json;
	json_object *obj;
	FILE *f;
	int rc;

	rc = kv_simple_parse(argc, argv, kv_mirror_help, &json);
	if (rc >= 0)
		return rc;
	if (!root)
		root = "";
	snprintf(modpath, sizeof(modpath), "%s/sys/module/daxmirror", root);
	snprintf(devpath, sizeof(devpath), "%s/dev/daxmirror", root);
	snprintf(verpath, sizeof(verpath), "%s/version", modpath);
	module = stat(modpath, &st) == 0;
	device = stat(devpath, &st) == 0;
	if (module && (f = fopen(verpath, "r")) != NULL) {
		if (fgets(version, sizeof(version), f))
			version[strcspn(version, "\n")] = '\0';
		fclose(f);
	}
	obj = json_object_new_object();
	json_object_object_add(obj, "loaded", json_object_new_boolean(module));
	json_object_object_add(obj, "device", json_object_new_boolean(device));
	json_object_object_add(obj, "version",
			       version[0] ? json_object_new_string(version) : NULL);
	{
		static const char *const names[] = { "live_files", "live_ranges",
						     "live_pt_bytes" };

		for (size_t i = 0; i < 3; i++) {
			long long val = module ?
						kv_mirror_counter(root, names[i]) :
						-1;

			json_object_object_add(obj, names[i],
					       val >= 0 ? json_object_new_int64(val) :
							  NULL);
		}
	}
	if (json)
		kv_json_print(obj);
	else if (!module)
		printf("daxmirror: module not loaded%s\n",
		       device ? " (but /dev/daxmirror exists)" : "");
	else
	{
		long long files = kv_mirror_counter(root, "live_files");

		printf("daxmirror: module loaded, version %s, %s\n",
		       version[0] ? version : "unknown",
		       device ? "/dev/daxmirror present" :
				"/dev/daxmirror missing");
		if (files >= 0)
			printf("mirrors now: %lld open, %lld ranges, %lld bytes "
			       "of device page tables\n",
			       files, kv_mirror_counter(root, "live_ranges"),
			       kv_mirror_counter(root, "live_pt_bytes"));
	}
	json_object_put(obj);
	return KV_EXIT_OK;
}
