/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libsmt's intrusive doubly-linked lists, in the kernel's list_add_tail /
 * list_del style: a list is a head and a tail pointer, NULL-terminated
 * both ways (an empty list has head == NULL); a node carries a prev and a
 * next pointer of its own type, named per list, so one node can be on
 * several lists (an eng_tx on the send queue by qprev/qnext and on its
 * session's receipt list by aprev/anext). Whether a node is on a list is
 * the caller's to know (its in_* flag). Not for use outside libsmt.
 */
#ifndef SMT_DLIST_H
#define SMT_DLIST_H

/* Appends node to the list head/tail through its fields prev and next. */
#define DLIST_ADD_TAIL(head, tail, node, prev, next) \
	do {                                         \
		(node)->prev = (tail);               \
		(node)->next = NULL;                 \
		if (tail)                            \
			(tail)->next = (node);       \
		else                                 \
			(head) = (node);             \
		(tail) = (node);                     \
	} while (0)

/* Takes node, which is on the list head/tail, off it; its prev and next
 * end NULL. */
#define DLIST_DEL(head, tail, node, prev, next)            \
	do {                                               \
		if ((node)->prev)                          \
			(node)->prev->next = (node)->next; \
		else                                       \
			(head) = (node)->next;             \
		if ((node)->next)                          \
			(node)->next->prev = (node)->prev; \
		else                                       \
			(tail) = (node)->prev;             \
		(node)->prev = (node)->next = NULL;        \
	} while (0)

#endif
