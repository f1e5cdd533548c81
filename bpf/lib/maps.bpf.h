/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map helpers shared by the SMT BPF programs: per-CPU counters and the
 * "find or create" of hash-map entries. The maps themselves are declared by
 * each program (their names and types are the ABI of include/smt/maps.h);
 * these helpers take them as plain map pointers and are always inlined, so
 * the verifier sees each call with its own map.
 */
#ifndef SMT_MAPS_BPF_H
#define SMT_MAPS_BPF_H

/* Add one to a per-CPU u64 array slot. */
static __always_inline void smt_count(void *map, __u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		*v += 1;
}

/*
 * Create the entry of key from init unless it exists (BPF_NOEXIST: an entry
 * another CPU made meanwhile is kept) and return it; NULL when the map
 * cannot hold it.
 */
static __always_inline void *smt_map_insert(void *map, const void *key,
					    const void *init)
{
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* The entry of key, created from init when there is none. */
static __always_inline void *smt_map_get_or_add(void *map, const void *key,
						const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	return v ? v : smt_map_insert(map, key, init);
}

#endif /* SMT_MAPS_BPF_H */
