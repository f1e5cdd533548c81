// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod/smt_outgoing.c and smt_offload.c against the mock: record layout
 * under the deterministic rule, record skbs (GSO or not), and software
 * segmentation, each compared byte for byte with what libsmt's codec builds
 * for the same keys and message.
 */
#include <criterion/criterion.h>

#include "kmod_test.h"
#include "codec.h"

TestSuite(kmod_outgoing, .fini = kt_leak_check);

Test(kmod_outgoing, smt_layout_init__empty_message_is_one_record)
{
	struct smt_layout l;

	cr_assert_eq(smt_layout_init(&l, 0, 16384, 48), 0);
	cr_expect_eq(l.nrec, 1);
	cr_expect_eq(l.content_len, 8);
	cr_expect_eq(l.wire_len, 30);
	cr_expect_eq(smt_layout_rec_clen(&l, 0), 8);
}

Test(kmod_outgoing, smt_layout_init__record_boundary)
{
	struct smt_layout l;

	cr_assert_eq(smt_layout_init(&l, 16376, 16384, 48), 0);
	cr_expect_eq(l.nrec, 1);
	cr_assert_eq(smt_layout_init(&l, 16377, 16384, 48), 0);
	cr_expect_eq(l.nrec, 2);
	cr_expect_eq(smt_layout_rec_clen(&l, 1), 1);
	cr_expect_eq(smt_layout_rec_off(&l, 1), 16406);
	cr_expect_eq(l.wire_len, 16385 + 44);
}

Test(kmod_outgoing, smt_layout_init__smaller_records)
{
	struct smt_layout l;

	cr_assert_eq(smt_layout_init(&l, 10000, 4096, 48), 0);
	cr_expect_eq(l.nrec, 3);
	cr_expect_eq(smt_layout_rec_clen(&l, 2), 10008 - 8192);
}

Test(kmod_outgoing, smt_layout_init__rejects_bad_rec_size)
{
	struct smt_layout l;

	cr_expect_eq(smt_layout_init(&l, 1, 4095, 48), -EINVAL);
	cr_expect_eq(smt_layout_init(&l, 1, 16385, 48), -EINVAL);
}

Test(kmod_outgoing, smt_layout_init__rejects_over_max_message)
{
	struct smt_layout l;

	cr_expect_eq(smt_layout_init(&l, SMT_KMOD_MAX_MSG + 1, 16384, 48),
		     -EMSGSIZE);
}

Test(kmod_outgoing, smt_layout_init__rejects_more_records_than_B_allows)
{
	struct smt_layout l;

	/* B = 56 leaves 256 record indexes: 257 records of 4096 do not fit. */
	cr_expect_eq(smt_layout_init(&l, 256 * 4096, 4096, 56), -EINVAL);
	cr_expect_eq(smt_layout_init(&l, 256 * 4096 - 8, 4096, 56), 0);
}

Test(kmod_outgoing, smt_msg_id_ok__bounds)
{
	cr_expect_not(smt_msg_id_ok(0, 48));
	cr_expect_not(smt_msg_id_ok(1, 48));
	cr_expect(smt_msg_id_ok(2, 48));
	cr_expect(smt_msg_id_ok((1ull << 47) - 1, 48));
	cr_expect_not(smt_msg_id_ok(1ull << 47, 48));
}

Test(kmod_outgoing, smt_max_payload__mtu_1500)
{
	cr_expect_eq(smt_max_payload(1500, SMT_IPV4_HDR_LEN), 1440);
	cr_expect_eq(smt_max_payload(1500, SMT_IPV6_HDR_LEN), 1420);
}

/* A session as SMT_IOC_SESSION_ADD makes it, plus libsmt's view. */
struct fixture {
	struct smt_ksession s;
	struct smt_aead *ref;
};

static void fixture_init(struct fixture *f, u16 cipher, u8 epoch)
{
	union smt_kmod_crypto ci;

	memset(f, 0, sizeof(*f));
	kt_crypto(&ci, cipher, 11);
	cr_assert_eq(smt_kaead_init(&f->s.tx, &ci), 0);
	f->s.B = 48;
	f->s.sport = 4001;
	f->s.dport = 4002;
	f->s.epoch = epoch;
	f->s.rec_size = 16384;
	f->ref = kt_libsmt_aead(cipher, 11);
	cr_assert_not_null(f->ref);
}

static void fixture_fini(struct fixture *f)
{
	smt_kaead_destroy(&f->s.tx);
	smt_aead_free(f->ref);
}

static u8 *make_content(u32 len)
{
	u8 *c = malloc(8 + len);

	c[0] = len >> 24, c[1] = len >> 16, c[2] = len >> 8, c[3] = len;
	memset(c + 4, 0, 4);
	for (u32 i = 0; i < len; i++)
		c[8 + i] = (u8)(i ^ (i >> 7));
	return c;
}

/* Every packet of the module (after software segmentation) equals
 * libsmt's packet at the same offset. */
static void packets_vs_libsmt(u16 cipher, u32 len, u8 epoch, u32 mss)
{
	struct smt_data_tmpl t = {.sport = 4001, .dport = 4002, .epoch = epoch};
	struct smt_wire_msg m;
	struct smt_layout l;
	struct fixture f;
	u8 *content = make_content(len), ref[1500];
	u32 npkts = 0;

	fixture_init(&f, cipher, epoch);
	cr_assert_eq(smt_layout_init(&l, len, 16384, 48), 0);
	cr_assert_eq(
		smt_msg_encode(f.ref, 48, 1000, content + 8, len, 0, 16384, &m),
		0);
	cr_assert_eq(m.wire_len, l.wire_len);
	cr_assert_eq(m.nrec, l.nrec);
	t.granted = m.wire_len;
	for (u32 k = 0; k < l.nrec; k++) {
		struct sk_buff *skb, *segs, *seg;
		u32 rlen = smt_layout_rec_clen(&l, k) + 22;

		skb = smt_record_skb(&f.s, &l, 1000, k, content, mss, false);
		cr_assert(!IS_ERR(skb));
		cr_assert_eq(skb->len, 40 + rlen);
		if (rlen <= mss) {
			cr_expect_not(skb_is_gso(skb));
			cr_assert_eq(smt_data_build(&m,
						    smt_layout_rec_off(&l, k),
						    mss, &t, ref),
				     rlen);
			cr_expect_arr_eq(skb->data, ref, skb->len);
			kfree_skb(skb);
			npkts++;
			continue;
		}
		cr_expect_eq(skb_shinfo(skb)->gso_size, mss);
		cr_expect_eq(skb_shinfo(skb)->gso_type, SMT_GSO_TYPE);
		cr_expect_eq(skb_shinfo(skb)->gso_segs, (rlen + mss - 1) / mss);
		segs = smt_gso_segment(skb, 0);
		cr_assert(!IS_ERR_OR_NULL(segs));
		u32 off = smt_layout_rec_off(&l, k);

		for (seg = segs; seg; seg = seg->next) {
			u32 n = smt_data_build(&m, off, mss, &t, ref);

			cr_assert_eq(seg->len, 40 + n, "rec %u off %u", k, off);
			cr_expect_arr_eq(seg->data, ref, seg->len,
					 "rec %u off %u", k, off);
			off += n;
			npkts++;
		}
		cr_expect_eq(off, smt_layout_rec_off(&l, k) + rlen);
		kfree_skb_list(segs);
		kfree_skb(skb);
	}
	cr_expect_gt(npkts, 0);
	smt_wire_msg_free(&m);
	free(content);
	fixture_fini(&f);
}

Test(kmod_outgoing, smt_record_skb__packets_match_libsmt_every_cipher)
{
	static const u32 lens[] = {0, 1, 1431, 1432, 16376, 16377, 50000};

	for (unsigned int c = 0; c < 3; c++)
		for (unsigned int i = 0; i < 7; i++)
			packets_vs_libsmt(kt_ciphers[c], lens[i], 3, 1440);
}

Test(kmod_outgoing, smt_record_skb__ipv6_packets_match_libsmt)
{
	packets_vs_libsmt(TLS_CIPHER_AES_GCM_128, 50000, 0,
			  smt_max_payload(1500, SMT_IPV6_HDR_LEN));
}

Test(kmod_outgoing, smt_data_hdr_init__record_template_fields)
{
	struct smt_ksession s = {.sport = 1, .dport = 2, .epoch = 9};
	struct smt_layout l;
	struct smt_hdr h;

	cr_assert_eq(smt_layout_init(&l, 40000, 16384, 48), 0);
	smt_data_hdr_init(&h, &s, &l, 0x1234, 2);
	cr_expect_eq(be32_to_cpu(h.pkt_off), 2 * 16406);
	cr_expect_eq(h.pkt_off, h.seg_off);
	cr_expect_eq(be16_to_cpu(h.rec_idx), 2);
	cr_expect_eq(h.pkt_idx, 0);
	cr_expect_eq(h.doff_ver, 0xA1);
	cr_expect_eq(h.type, SMT_TYPE_DATA);
	cr_expect_eq(be64_to_cpu(h.msg_id), 0x1234);
	cr_expect_eq(be32_to_cpu(h.msg_len), l.wire_len);
	cr_expect_eq(be32_to_cpu(h.granted), l.wire_len);
	cr_expect_eq(h.epoch, 9);
	cr_expect_eq(h.flags, 0);
	cr_expect_eq(h.csum, 0);
}

Test(kmod_outgoing, smt_record_skb__crypto_error_frees_skb)
{
	struct smt_layout l;
	struct fixture f;
	u8 *content = make_content(100);
	struct sk_buff *skb;

	fixture_init(&f, TLS_CIPHER_AES_GCM_128, 0);
	cr_assert_eq(smt_layout_init(&l, 100, 16384, 48), 0);
	mock_fail_encrypt = true;
	skb = smt_record_skb(&f.s, &l, 2, 0, content, 1440, false);
	cr_expect(IS_ERR(skb));
	cr_expect_eq(PTR_ERR(skb), -EIO);
	free(content);
	fixture_fini(&f);
}

Test(kmod_outgoing, smt_segment_here__esp_gso_devices_and_parameter)
{
	struct sk_buff *skb = alloc_skb(64, GFP_KERNEL);

	cr_expect_not(smt_segment_here(skb, NETIF_F_GSO_ESP), "not GSO");
	skb_shinfo(skb)->gso_size = 1440;
	cr_expect_not(smt_segment_here(skb, NETIF_F_HW_TLS_TX));
	cr_expect(smt_segment_here(skb, NETIF_F_GSO_ESP | NETIF_F_HW_TLS_TX),
		  "a device with ESP GSO would take it for IPsec");
	smt_gso_in_module = true;
	cr_expect(smt_segment_here(skb, 0), "parameter forces it");
	smt_gso_in_module = false;
	kfree_skb(skb);
}

Test(kmod_outgoing, smt_gso_fix_hdr__offsets_per_packet)
{
	struct smt_hdr h = {0};

	h.seg_off = cpu_to_be32(16406);
	h.pkt_off = h.seg_off;
	smt_gso_fix_hdr(&h, 3, 1440);
	cr_expect_eq(be32_to_cpu(h.pkt_off), 16406 + 3 * 1440);
	cr_expect_eq(be16_to_cpu(h.pkt_idx), 3);
	cr_expect_eq(be32_to_cpu(h.seg_off), 16406);
}

static struct sk_buff *template_skb(u8 doff_ver, u32 pkt_off, u32 seg_off)
{
	struct sk_buff *skb = alloc_skb(64 + 3000, GFP_KERNEL);
	struct smt_hdr *h;

	skb_reserve(skb, 64);
	memset(skb_put(skb, 3000), 0x5a, 3000);
	h = skb_push(skb, 40);
	memset(h, 0, 40);
	skb_reset_transport_header(skb);
	h->doff_ver = doff_ver;
	h->type = SMT_TYPE_DATA;
	h->pkt_off = cpu_to_be32(pkt_off);
	h->seg_off = cpu_to_be32(seg_off);
	skb_shinfo(skb)->gso_size = 1440;
	return skb;
}

Test(kmod_outgoing, smt_gso_segment__rejects_non_template_header)
{
	struct sk_buff *skb = template_skb(0xA1, 100, 0);

	cr_expect_eq(PTR_ERR(smt_gso_segment(skb, 0)), -EINVAL);
	kfree_skb(skb);
	skb = template_skb(0xB1, 0, 0);
	cr_expect_eq(PTR_ERR(smt_gso_segment(skb, 0)), -EINVAL);
	kfree_skb(skb);
}

Test(kmod_outgoing, smt_gso_segment__refuses_plaintext_record)
{
	struct sk_buff *skb = template_skb(0xA1, 0, 0), *segs;

	/* Plaintext for a TLS offload device must not lose its socket. */
	skb->decrypted = 1;
	cr_expect_eq(PTR_ERR(smt_gso_segment(skb, 0)), -EINVAL);
	skb->decrypted = 0;
	segs = smt_gso_segment(skb, 0);
	cr_expect(!IS_ERR_OR_NULL(segs));
	kfree_skb_list(segs);
	kfree_skb(skb);
}

Test(kmod_outgoing, smt_gso_segment__segment_failure_restores_skb)
{
	struct sk_buff *skb = template_skb(0xA1, 0, 0);
	u32 len = skb->len;

	mock_fail_segment = true;
	cr_expect_eq(PTR_ERR(smt_gso_segment(skb, 0)), -ENOMEM);
	cr_expect_eq(skb->len, len, "header must be pushed back");
	kfree_skb(skb);
}

Test(kmod_outgoing, smt_gso_segment__three_packets)
{
	struct sk_buff *skb = template_skb(0xA1, 0, 0), *segs, *s;
	u32 lens[3], i = 0;

	segs = smt_gso_segment(skb, 0);
	cr_assert(!IS_ERR_OR_NULL(segs));
	for (s = segs; s; s = s->next, i++) {
		const struct smt_hdr *h = (const void *)s->data;

		cr_assert_lt(i, 3);
		lens[i] = s->len - 40;
		cr_expect_eq(be32_to_cpu(h->pkt_off), i * 1440);
		cr_expect_eq(be16_to_cpu(h->pkt_idx), i);
	}
	cr_expect_eq(i, 3);
	cr_expect_eq(lens[0], 1440);
	cr_expect_eq(lens[2], 3000 - 2880);
	kfree_skb_list(segs);
	kfree_skb(skb);
}
