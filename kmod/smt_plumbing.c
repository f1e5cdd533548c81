// SPDX-License-Identifier: GPL-2.0-only
/*
 * Glue of the smt module: module parameters, init and exit, the misc
 * character device /dev/smt and its ioctls (include/smt/kmod_uapi.h), and
 * the registration of the SMT IP protocol number, whose handler only counts
 * and checks the header of what arrives (the module has no receive path;
 * raw sockets get their copies before it runs). Protocol logic lives in the
 * other files, one concern each.
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/nsproxy.h>
#include <linux/ip.h>
#include <linux/sched.h>
#include <net/protocol.h>

#include "smt_impl.h"

static ushort ipproto = SMT_IPPROTO_DEFAULT;
module_param(ipproto, ushort, 0444);
MODULE_PARM_DESC(ipproto, "IP protocol number of SMT (default 253)");

module_param_named(tls_offload, smt_tls_offload_enabled, bool, 0644);
MODULE_PARM_DESC(tls_offload,
		 "use NIC TLS TX offload contexts when the device has them "
		 "(never run on hardware; default off)");

module_param_named(gso_in_module, smt_gso_in_module, bool, 0644);
MODULE_PARM_DESC(gso_in_module,
		 "segment records in the module instead of at the device "
		 "(always done for devices with ESP segmentation offload)");

/*
 * Received SMT packets: counted, the stateless rules of section 2.1 and
 * 8.2 checked (smt_rx_verdict(), include/smt/rules.h), drops counted by
 * reason.
 */
static int smt_rcv(struct sk_buff *skb)
{
	u32 want = min_t(u32, skb->len, SMT_HDR_LEN + SMT_REC_HDR_LEN);
	int ipv4_id = -1, reason;

	smt_stat_add(SMT_CNT_RX_PACKETS, 1);
	smt_stat_add(SMT_CNT_RX_BYTES, skb->len);
	if (skb->protocol == htons(ETH_P_IP))
		ipv4_id = ntohs(ip_hdr(skb)->id);
	if (!pskb_may_pull(skb, want))
		reason = SMT_DROP_SHORT_HEADER;
	else
		reason = smt_rx_verdict(skb->data, skb_headlen(skb), skb->len,
					ipv4_id);
	if (reason)
		smt_stat_drop(reason);
	consume_skb(skb);
	return 0;
}

static const struct net_protocol smt_net_protocol = {
	.handler = smt_rcv,
	.no_policy = 1,
};

static const struct inet6_protocol smt_inet6_protocol = {
	.handler = smt_rcv,
	.flags = INET6_PROTO_NOPOLICY | INET6_PROTO_FINAL,
};

static int smt_dev_open(struct inode *inode, struct file *file)
{
	struct smt_ksession_table *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return -ENOMEM;
	smt_ksession_table_init(t);
	file->private_data = t;
	return 0;
}

static int smt_dev_release(struct inode *inode, struct file *file)
{
	struct smt_ksession_table *t = file->private_data;

	smt_ksession_table_destroy(t);
	kfree(t);
	return 0;
}

static long smt_ioc_add(struct smt_ksession_table *t, void __user *arg)
{
	struct smt_kmod_session p;
	long ret;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	ret = smt_ksession_add(t, current->nsproxy->net_ns, &p, (u8)ipproto);
	memzero_explicit(&p.crypto, sizeof(p.crypto));
	if (ret < 0)
		return ret;
	p.id = (u32)ret;
	if (copy_to_user(arg, &p.id, sizeof(p.id))) {
		smt_ksession_del(t, p.id);
		return -EFAULT;
	}
	return 0;
}

static long smt_ioc_send(struct smt_ksession_table *t, void __user *arg)
{
	struct smt_kmod_send m;
	struct smt_ksession *s;
	u8 *content;
	long ret;

	if (copy_from_user(&m, arg, sizeof(m)))
		return -EFAULT;
	if (m.pad)
		return -EINVAL;
	if (m.len > SMT_KMOD_MAX_MSG)
		return -EMSGSIZE;
	content = kvmalloc(SMT_INNER_HDR_LEN + (size_t)m.len, GFP_KERNEL);
	if (!content)
		return -ENOMEM;
	if (copy_from_user(content + SMT_INNER_HDR_LEN,
			   u64_to_user_ptr(m.payload), m.len)) {
		ret = -EFAULT;
		goto out;
	}
	mutex_lock(&t->lock);
	s = smt_ksession_find(t, m.session);
	ret = s ? smt_send_msg(s, m.msg_id, m.inner_flags, content, m.len)
		: -ENOENT;
	mutex_unlock(&t->lock);
out:
	kvfree_sensitive(content, SMT_INNER_HDR_LEN + (size_t)m.len);
	return ret;
}

static long smt_dev_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct smt_ksession_table *t = file->private_data;
	void __user *uarg = (void __user *)arg;
	u32 id;

	switch (cmd) {
	case SMT_IOC_SESSION_ADD:
		return smt_ioc_add(t, uarg);
	case SMT_IOC_SESSION_DEL:
		if (get_user(id, (u32 __user *)uarg))
			return -EFAULT;
		return smt_ksession_del(t, id);
	case SMT_IOC_SEND:
		return smt_ioc_send(t, uarg);
	}
	return -ENOTTY;
}

static const struct file_operations smt_dev_fops = {
	.owner = THIS_MODULE,
	.open = smt_dev_open,
	.release = smt_dev_release,
	.unlocked_ioctl = smt_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice smt_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = SMT_KMOD_DEV_NAME,
	.fops = &smt_dev_fops,
	.mode = 0600,
};

static int __init smt_init(void)
{
	int err;

	if (ipproto < 1 || ipproto > 255) {
		pr_err("smt: ipproto=%u is not a protocol number (1..255)\n",
		       ipproto);
		return -EINVAL;
	}
	err = smt_stats_init();
	if (err)
		return err;
	err = smt_tls_offload_init();
	if (err)
		goto fail_tls;
	err = smt_offload_init((u8)ipproto);
	if (err) {
		pr_err("smt: protocol %u already has a GSO offload; load with ipproto=N\n",
		       ipproto);
		goto fail_offload;
	}
	err = inet_add_protocol(&smt_net_protocol, (u8)ipproto) ? -EBUSY : 0;
	if (err) {
		pr_err("smt: protocol %u is taken; load with ipproto=N\n",
		       ipproto);
		goto fail_proto;
	}
	err = inet6_add_protocol(&smt_inet6_protocol, (u8)ipproto) ? -EBUSY : 0;
	if (err) {
		pr_err("smt: IPv6 protocol %u is taken; load with ipproto=N\n",
		       ipproto);
		goto fail_proto6;
	}
	err = misc_register(&smt_miscdev);
	if (err)
		goto fail_misc;
	pr_info("smt: loaded, IP protocol %u, /dev/%s\n", ipproto,
		SMT_KMOD_DEV_NAME);
	return 0;

fail_misc:
	inet6_del_protocol(&smt_inet6_protocol, (u8)ipproto);
fail_proto6:
	inet_del_protocol(&smt_net_protocol, (u8)ipproto);
fail_proto:
	smt_offload_exit((u8)ipproto);
fail_offload:
	smt_tls_offload_exit();
fail_tls:
	smt_stats_exit();
	return err;
}

static void __exit smt_exit(void)
{
	misc_deregister(&smt_miscdev);
	inet6_del_protocol(&smt_inet6_protocol, (u8)ipproto);
	inet_del_protocol(&smt_net_protocol, (u8)ipproto);
	smt_offload_exit((u8)ipproto);
	smt_tls_offload_exit();
	smt_stats_exit();
	pr_info("smt: unloaded\n");
}

module_init(smt_init);
module_exit(smt_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("smt project");
MODULE_DESCRIPTION("SMT: encrypted messages as GSO TLS records over IP");
