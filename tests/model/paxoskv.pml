/*
 * paxoskv.pml — model of PaxosKV's per-key protocol (docs/design.md §3, §4, §6):
 * single-decree Paxos per generation, erasure with tombstones and (GC) their
 * collection, the dead-binding rule, and acceptor restart without durable
 * state.
 *
 * 3 acceptors, 2 proposers, one key, two generations (one erasure).
 * See README.md in this directory for the abstraction and the variants.
 *
 * Compile-time switches (spin -DNAME):
 *   MAXR=n                 rounds (ballots) each proposer may try per
 *                          generation (default 2; 3 is supported)
 *   NO_QUIET               sync exactly as the spec first worded it, without the
 *                          quiet period (expected to FAIL: see README)
 *   BROKEN_NO_SYNC         a restarted acceptor answers at once, empty
 *   BROKEN_DEAD_SAME_GEN   a proposer that sees a dead-binding value drops it
 *                          but proposes its own value in the same generation
 *   BROKEN_ACCEPT_BELOW_PROMISE  an acceptor accepts below its promise
 *   FAST                   the fast round (daemon/paxos-acceptor.c): each
 *                          proposer may first send its value at the shared
 *                          fast ballot F, below every classic ballot,
 *                          without phase 1
 *   BROKEN_FAST_MAJORITY   (with FAST) a majority of votes at F counts as
 *                          chosen instead of every acceptor
 *   BROKEN_FAST_REVOTE     (with FAST) an acceptor votes again at F for
 *                          another value
 *   FAST_GET               (with FAST) a get that reads the acceptors one at
 *                          a time, at any moments, and takes a value at F
 *                          when all three reported it (instead of the
 *                          snapshot observation). The get drops what it read
 *                          from an acceptor that restarted since (a new
 *                          incarnation) and reads it again
 *   BROKEN_GET_ACROSS_RESTART  (with FAST_GET) the get keeps a read of an
 *                          acceptor after that acceptor restarted (the daemon's
 *                          rule today; expected to FAIL with FAST_REPROPOSE)
 *   FAST_REPROPOSE         (with FAST) after the restart, proposer 1's value is
 *                          sent at F once more (a client's retry of the same
 *                          value, on any node): a value proposed at F twice
 *   GC                     (with ERASURES=1) tombstone collection (docs/design.md
 *                          §4.6): once every acceptor held generation 0's
 *                          tombstone, an acceptor whose tombstone is bare and
 *                          while every acceptor is synced may forget it (back to
 *                          a key it never held) and set its floor to 1; it then
 *                          refuses PREPARE/ACCEPT below its floor while it holds
 *                          nothing. Generation 0's messages stay in the set for
 *                          good (late messages after the collection)
 *   BROKEN_GC_NO_FLOOR     (with GC) the acceptor forgets the tombstone but keeps
 *                          no floor: a late message of generation 0 is answered
 *                          as for a new key (expected to FAIL)
 *   BROKEN_GC_NOT_BARE     (with GC) rule 3 left out: a tombstone that holds a
 *                          promise or acceptance of generation 1 is collected,
 *                          and that state with it (expected to FAIL)
 */

#ifndef MAXR
#define MAXR 2
#endif
#ifndef MAXR1
#define MAXR1 1			/* rounds per proposer in generation 1 */
#endif
#ifndef ERASURES
#define ERASURES 1		/* 0: one generation only */
#endif
#ifndef MAXRESTART
#define MAXRESTART 1
#endif

#define NP 2			/* proposers, ids 1..NP (index 0..NP-1) */
#define NA 3			/* acceptors = cluster_size */
#define NB (NP * MAXR)		/* ballots 1..NB; 0 = none */
#define NG 2			/* generations 0 and 1 */
#define MAJ 2			/* strict majority of cluster_size */
#define MAJ_OTHERS 2		/* majority of cluster_size, not counting self */

#define T_PREPARE 0
#define T_ACCEPT 1

/* ballot (round r, proposer index i) as one number, totally ordered */
#define BALLOT(r, i) (NP * ((r) - 1) + (i) + 1)
#define ROUND(b) (((b) + NP - 1) / NP)
#define OWNER(b) (((b) - 1) % NP)
/* index of a (generation, ballot) pair in the ghost tables */
#define GB(g, b) ((g) * (NB + 1) + (b))
/* bit of the message PREPARE/ACCEPT(g, b) in the sent-message set */
#define MBIT(t, g, b) (1 << ((t) * NG * NB + (g) * NB + (b) - 1))
#define POP3(m) (((m) & 1) + (((m) >> 1) & 1) + (((m) >> 2) & 1))
#define OWNVAL(i, g) (NP * (g) + (i) + 1)
#define NV (NP * NG)		/* values 1..NV */
#define GEN_OF_VAL(v) (((v) - 1) / NP)

/*
 * The fast round. F is one ballot shared by every proposer, below every
 * classic ballot (classic ballots are 1..NB; F sits between "none" and 1).
 * Acceptor a's vote at F is afv[a] (a value, 0: none); "promised F" is
 * afv[a] != 0 with aprom[a] == 0. FAST(g, i) is proposer i's fast ACCEPT in
 * generation g, carrying OWNVAL(i, g). A value is chosen at F when FQ
 * acceptors voted it.
 */
#ifdef BROKEN_FAST_MAJORITY
#define FQ MAJ
#else
#define FQ NA
#endif
#define MFBIT(g, i) (1 << (2 * NG * NB + (g) * NP + (i)))
/* FAST_REPROPOSE: proposer 0's value of generation 0 sent at F again, after
 * the restart; its own bit, so the quiet period (which expires what was sent
 * before the restart) does not take it */
#define MRBIT (1 << (2 * NG * NB + NG * NP))

/*
 * The network: the set of every PREPARE/ACCEPT ever sent (as in the TLA+
 * specifications of Paxos). Any acceptor may receive any message of the set
 * at any time, any number of times, or never: loss, duplication and
 * reordering. A PREPARE carries (gen, ballot); an ACCEPT carries (gen,
 * ballot) and the value pval[GB(gen, ballot)], unique per ballot.
 *
 * Replies (PROMISE, ACCEPTED) go to the proposer's per-acceptor slots for
 * its current round; the proposer may act on any majority of the promises
 * it holds (so a lost or late reply is covered), and replies for a round it
 * left are dropped.
 */
int msgs;

/* acceptors */
bit agen[NA];			/* current generation (tombstone: older ignored) */
byte aprom[NA];			/* highest promised ballot */
byte aaccb[NA];			/* ballot of the accepted value (value = pval) */
bit asynced[NA];		/* answers prepare/accept */
byte asmask[NA];		/* sync sources copied so far */
byte restarts;
#ifdef FAST
byte afv[NA];			/* value voted at F, 0: none (or a classic one since) */
#define AFV_RESET(a) afv[a] = 0
#define AFV_NONE(a) (afv[a] == 0)
#else
#define AFV_RESET(a) skip
#define AFV_NONE(a) 1
#endif
/* the acceptor holds nothing in its generation (no promise, no vote) */
#define BARE(a) (aprom[a] == 0 && aaccb[a] == 0 && AFV_NONE(a))

#ifdef GC
#if ERASURES == 0
#error "GC needs ERASURES=1"
#endif
/*
 * Tombstone collection (docs/design.md §4.6). afloor[a] is acceptor a's floor
 * for the key's bucket (the `\0floor` entry): a message of a generation below
 * it is refused while a holds nothing of the key. gcok (ghost) records that
 * every acceptor has held generation 0's tombstone at once (rule 1: every
 * daemon acknowledged the erasure); it stays set, as the acknowledgments do.
 */
bit afloor[NA];
bit gcok;
#define REFUSED(a, g) ((g) < afloor[a] && BARE(a))
#define FLOOR_RESET(a) afloor[a] = 0
/* a sync copies the source's floor entry, the highest one stays */
#define FLOOR_MERGE(a, s) if :: afloor[s] > afloor[a] -> afloor[a] = afloor[s] :: else -> skip fi
#else
#define REFUSED(a, g) 0
#define FLOOR_RESET(a) skip
#define FLOOR_MERGE(a, s) skip
#endif

#ifndef NO_QUIET
/* quiet period bookkeeping (see README): what was in flight at the restart */
int oldmsgs;
byte poldb[NP];			/* GB(g, b) of the round active at the restart */
#ifdef FAST
byte pfold[NP];			/* 1 + g of a fast round active at the restart */
#define GC0_QUIET_FAST \
	if :: pfold[0] == 1 -> pfold[0] = 0 :: else -> skip fi; \
	if :: pfold[1] == 1 -> pfold[1] = 0 :: else -> skip fi
#else
#define GC0_QUIET_FAST skip
#endif
#define GC0_QUIET \
	oldmsgs = oldmsgs & ~GEN0_BITS; \
	if :: poldb[0] <= NB -> poldb[0] = 0 :: else -> skip fi; \
	if :: poldb[1] <= NB -> poldb[1] = 0 :: else -> skip fi; \
	GC0_QUIET_FAST
#else
#define GC0_QUIET skip
#endif

/* proposers */
bit pgen[NP];			/* generation the proposer runs in */
byte pb[NP];			/* current (last) ballot, 0 = none yet */
byte pphase[NP];		/* 0 idle, 1 preparing, 2 accepting, 3 learned */
byte pslot[NP * NA];		/* promise of acceptor a: 0 none, else accepted ballot + 1 */
byte pacc[NP];			/* acceptors that accepted the current ballot */
#ifdef FAST
bit pfast[NP];			/* the fast round was tried in this generation */
byte pfslot[NP * NA];		/* promise of acceptor a: its vote at F, 0: none */
byte fby[NV + 1];		/* ghost: acceptors that ever voted value v at F */
#endif

/* erasure: the binding of generation 0's value ended (known cluster-wide) */
bit ended0;

/* ghost state for the properties */
byte pval[NG * (NB + 1)];	/* value proposed with (g, b), 0 = none */
byte accby[NG * (NB + 1)];	/* acceptors that ever accepted (g, b) */
byte chosen[NG];		/* value chosen in generation g, 0 = none */
byte learned[NG];		/* value learned in generation g, 0 = none */

hidden byte t_hb, t_v, t_g, t_b;

/*
 * Generation 0 is over for good once every proposer runs in generation 1 and
 * every acceptor holds its tombstone (a restarted acceptor copies generation
 * 1 from its synced sources). Its messages and ghost records can no longer
 * matter, so they are dropped to merge equivalent states.
 */
#if defined(GC)
/* a collected acceptor is back in generation 0: generation 0's messages (the
 * late ones the floor must refuse) and its ghost records are kept for good */
#define GC0_SAFE 0
#elif defined(BROKEN_NO_SYNC)
#define GC0_SAFE (restarts == MAXRESTART)
#else
#define GC0_SAFE 1
#endif
#ifdef FAST
#define GEN0_FAST (MFBIT(0, 0) | MFBIT(0, 1) | MRBIT)
#else
#define GEN0_FAST 0
#endif
#define GEN0_BITS ((1 << NB) - 1 | (1 << (NG * NB + NB)) - (1 << (NG * NB)) | GEN0_FAST)

#ifdef FAST
#define GC0_FBY fby[1] = 0; fby[2] = 0
#else
#define GC0_FBY skip
#endif

inline gc0()
{
	if
	:: ended0 && pgen[0] == 1 && pgen[1] == 1 && agen[0] == 1 && agen[1] == 1 &&
	   agen[2] == 1 && GC0_SAFE ->
		msgs = msgs & ~GEN0_BITS;
		GC0_QUIET;
		t_b = 0;
		do
		:: t_b <= NB -> pval[GB(0, t_b)] = 0; accby[GB(0, t_b)] = 0; t_b++
		:: else -> break
		od;
		t_b = 0;
		GC0_FBY;
		chosen[0] = 0;
		learned[0] = 0
	:: else -> skip
	fi
}

#ifdef FAST
#define CLEAR_FSLOT(i) pfslot[i * NA + 0] = 0; pfslot[i * NA + 1] = 0; pfslot[i * NA + 2] = 0
#else
#define CLEAR_FSLOT(i) skip
#endif

inline clear_round(i)
{
	pslot[i * NA + 0] = 0;
	pslot[i * NA + 1] = 0;
	pslot[i * NA + 2] = 0;
	CLEAR_FSLOT(i);
	pacc[i] = 0
}

/* An acceptance of (g, b) by acceptor a: the chosen monitor and the learner. */
inline record_accept(a, g, b)
{
	assert(pval[GB(g, b)] != 0);
	accby[GB(g, b)] = accby[GB(g, b)] | (1 << a);
	if
	:: POP3(accby[GB(g, b)]) >= MAJ ->
		/* agreement: one chosen value per generation */
		if
		:: chosen[g] == 0 -> chosen[g] = pval[GB(g, b)]
		:: else -> assert(chosen[g] == pval[GB(g, b)])
		fi
	:: else -> skip
	fi;
	/* the owner of the ballot learns from a majority of ACCEPTED replies */
	if
	:: pgen[OWNER(b)] == g && pb[OWNER(b)] == b && pphase[OWNER(b)] == 2 ->
		pacc[OWNER(b)] = pacc[OWNER(b)] | (1 << a);
		if
		:: POP3(pacc[OWNER(b)]) >= MAJ ->
			/* the learned value of a generation never changes */
			if
			:: learned[g] == 0 -> learned[g] = pval[GB(g, b)]
			:: else -> assert(learned[g] == pval[GB(g, b)])
			fi;
			assert(learned[g] == chosen[g]);
			pphase[OWNER(b)] = 3;
			clear_round(OWNER(b))
		:: else -> skip
		fi
	:: else -> skip
	fi
}

#ifdef FAST
/* A promise also reports the vote at F (used when nothing classic was accepted). */
#define PROMISE_FAST(i, a) pfslot[(i) * NA + (a)] = afv[a]

/*
 * A vote for v at F by acceptor a (the ghost of every vote, copies by sync
 * included). Unlike a classic ballot, "every acceptor ever voted v" is not
 * the monitor of F: a restarted acceptor's copy of a source's vote is made
 * after that source may have gone on to a classic ballot. So F's monitor is
 * what can be learned: a proposer's FQ answers, or FQ acceptors holding v at
 * F at once (what a get counts).
 */
inline record_fast(a, v)
{
	fby[v] = fby[v] | (1 << a)
}

/* v is learned as chosen at F in its generation. */
inline fast_learned(v)
{
	if
	:: chosen[GEN_OF_VAL(v)] == 0 -> chosen[GEN_OF_VAL(v)] = v
	:: else -> assert(chosen[GEN_OF_VAL(v)] == v)
	fi;
	if
	:: learned[GEN_OF_VAL(v)] == 0 -> learned[GEN_OF_VAL(v)] = v
	:: else -> assert(learned[GEN_OF_VAL(v)] == v)
	fi
}

/* Proposer i hears OK for its fast ACCEPT from acceptor a (a voted its value). */
inline fast_ack(i, a)
{
	pacc[i] = pacc[i] | (1 << a);
	if
	:: POP3(pacc[i]) >= FQ ->
		fast_learned(OWNVAL(i, pgen[i]));
		pphase[i] = 3;
		clear_round(i)
	:: else -> skip
	fi
}

/*
 * Acceptor a handles proposer i's fast ACCEPT of generation g: it votes if it
 * promised nothing and has no vote at F; it answers OK again if its vote is
 * that value (a repeat, or the same value from elsewhere).
 */
#ifdef BROKEN_FAST_REVOTE
#define MAY_VOTE(a, v) (aprom[a] == 0 && aaccb[a] == 0 && afv[a] != (v))
#else
#define MAY_VOTE(a, v) (aprom[a] == 0 && afv[a] == 0)
#endif
inline fast_recv(a, g, i)
{
	t_g = g;
	t_v = OWNVAL(i, g);
	if
	:: t_g < agen[a] -> skip
	:: REFUSED(a, t_g) -> skip	/* below the floor, nothing held */
	:: else ->
		if
		:: t_g > agen[a] -> agen[a] = t_g; aprom[a] = 0; aaccb[a] = 0; afv[a] = 0
		:: else -> skip
		fi;
		if
		:: MAY_VOTE(a, t_v) ->
			afv[a] = t_v;
			record_fast(a, t_v)
		:: else -> skip
		fi;
		if
		:: afv[a] == t_v && aprom[a] == 0 && pgen[i] == t_g && pphase[i] == 4 &&
		   (pacc[i] & (1 << a)) == 0 ->
			fast_ack(i, a)
		:: else -> skip
		fi
	fi;
	t_g = 0; t_v = 0
}

/* Only deliveries that change something (a vote, an OK counted, a generation). */
#define FAST_USEFUL(a, g, i) \
	(!REFUSED(a, g) && ((g) > agen[a] || ((g) == agen[a] && (MAY_VOTE(a, OWNVAL(i, g)) || \
	 (afv[a] == OWNVAL(i, g) && aprom[a] == 0 && pgen[i] == (g) && pphase[i] == 4 && \
	  (pacc[i] & (1 << a)) == 0)))))
#define DELIVER_F(a, g, i) \
	:: d_step { asynced[a] && (msgs & MFBIT(g, i)) && FAST_USEFUL(a, g, i) -> \
		fast_recv(a, g, i); gc0() }
#ifdef FAST_REPROPOSE
#define DELIVER_FR(a) \
	:: d_step { asynced[a] && (msgs & MRBIT) && FAST_USEFUL(a, 0, 0) -> \
		fast_recv(a, 0, 0); gc0() }
#else
#define DELIVER_FR(a)
#endif
#define DELIVER_FA(a) DELIVER_F(a, 0, 0) DELIVER_F(a, 0, 1) DELIVER_F(a, 1, 0) DELIVER_F(a, 1, 1) \
	DELIVER_FR(a)

#ifdef FAST_GET
/*
 * One get in generation 0: gread[a] is what acceptor a reported (0: not
 * asked yet; its vote at F; GR_OTHER: a classic value, nothing, or another
 * generation). Reads happen at any moments, each once; the get learns v at F
 * when every acceptor reported v at F.
 */
#define GR_OTHER 255
byte gread[NA];
#ifdef BROKEN_GET_ACROSS_RESTART
#define GET_FORGET(a) skip
#else
/* a read of an older incarnation is dropped: the acceptor is read again */
#define GET_FORGET(a) gread[a] = 0
#endif
#define GET_READ(a) \
	:: d_step { gread[a] == 0 && asynced[a] -> \
		if \
		:: agen[a] == 0 && aaccb[a] == 0 && afv[a] != 0 -> gread[a] = afv[a] \
		:: else -> gread[a] = GR_OTHER \
		fi }
#define GET_LEARN(v) \
	:: d_step { gread[0] == (v) && gread[1] == (v) && gread[2] == (v) -> \
		fast_learned(v); gread[0] = GR_OTHER }
#define OBSERVE_F(v)
#else
#define GET_READ(a)
#define GET_LEARN(v)
#define GET_FORGET(a) skip
/* A get that hears the same vote at F from every synced acceptor learns it. */
#define HOLDS_F(a, v) (asynced[a] && afv[a] == (v) && agen[a] == GEN_OF_VAL(v))
#define OBSERVE_F(v) \
	:: d_step { HOLDS_F(0, v) && HOLDS_F(1, v) && HOLDS_F(2, v) && learned[GEN_OF_VAL(v)] != (v) -> \
		fast_learned(v) }
#endif

/* Proposer i's first try in its generation: the fast ACCEPT, no phase 1. */
#define FAST_START(i) \
	:: d_step { pphase[i] == 0 && pb[i] == 0 && !pfast[i] -> \
		pfast[i] = 1; pphase[i] = 4; clear_round(i); \
		msgs = msgs | MFBIT(pgen[i], i) }

#ifdef FAST_REPROPOSE
/*
 * Once, after the restart and once a fast round of proposer 0 that was
 * active at the restart has expired: proposer 0's value of generation 0 is
 * sent at F again (a retry of the same client value; the node retrying holds
 * nothing of the key, so it starts with the fast round).
 */
bit refast;
#ifdef NO_QUIET
#define PFOLD0 0
#else
#define PFOLD0 pfold[0]
#endif
#define FAST_RESEND \
	:: d_step { restarts == MAXRESTART && !refast && pgen[0] == 0 && PFOLD0 == 0 -> \
		refast = 1; pfast[0] = 1; pphase[0] = 4; clear_round(0); \
		msgs = msgs | MRBIT }
#else
#define FAST_RESEND
#endif
#else
#define FAST_RESEND
#define GET_FORGET(a) skip
#define PROMISE_FAST(i, a) skip
#define DELIVER_FA(a)
#define FAST_START(i)
#define OBSERVE_F(v)
#define GET_READ(a)
#define GET_LEARN(v)
#endif

/* Acceptor a handles message (t, g, b) of the set. */
inline acc_recv(a, t, g, b)
{
	t_g = g;
	if
	:: t_g < agen[a] -> skip	/* an older generation: ignored */
	:: REFUSED(a, t_g) -> skip	/* below the floor, nothing held: refused */
	:: else ->
		if
		:: t_g > agen[a] ->
			/* hearing of g+1 means g ended: tombstone, fresh instance */
			agen[a] = t_g; aprom[a] = 0; aaccb[a] = 0; AFV_RESET(a)
		:: else -> skip
		fi;
		if
		:: t == T_PREPARE && b > aprom[a] ->
			aprom[a] = b;
			if
			:: pgen[OWNER(b)] == t_g && pb[OWNER(b)] == b && pphase[OWNER(b)] == 1 ->
				pslot[OWNER(b) * NA + a] = aaccb[a] + 1;
				PROMISE_FAST(OWNER(b), a)
			:: else -> skip
			fi
#ifdef BROKEN_ACCEPT_BELOW_PROMISE
		:: t == T_ACCEPT ->
			if
			:: b > aprom[a] -> aprom[a] = b
			:: else -> skip
			fi;
#else
		:: t == T_ACCEPT && b >= aprom[a] ->
			aprom[a] = b;
#endif
			aaccb[a] = b;
			AFV_RESET(a);	/* one accepted slot, as in the daemon */
			record_accept(a, t_g, b)
		:: else -> skip
		fi
	fi;
	t_g = 0
}

/*
 * Only deliveries that change something are taken: a message that would be
 * ignored leaves the state as it is, so skipping it loses no behaviour.
 */
#define GEN_OF(a, g) (g)
#ifdef BROKEN_ACCEPT_BELOW_PROMISE
#define ACCEPT_OK(a, b) ((b) != aaccb[a])
#else
#define ACCEPT_OK(a, b) ((b) >= aprom[a] && (b) != aaccb[a])
#endif
#define USEFUL(a, t, g, b) \
	(!REFUSED(a, g) && (GEN_OF(a, g) > agen[a] || (GEN_OF(a, g) == agen[a] && \
	 (((t) == T_PREPARE && (b) > aprom[a]) || ((t) == T_ACCEPT && ACCEPT_OK(a, b))))))

#define DELIVER(a, t, g, b) \
	:: d_step { asynced[a] && (msgs & MBIT(t, g, b)) && USEFUL(a, t, g, b) -> \
		acc_recv(a, t, g, b); gc0() }

#if MAXR == 1
#define DELIVER_B(a, t, g) DELIVER(a, t, g, 1) DELIVER(a, t, g, 2)
#elif MAXR == 2
#define DELIVER_B(a, t, g) \
	DELIVER(a, t, g, 1) DELIVER(a, t, g, 2) DELIVER(a, t, g, 3) DELIVER(a, t, g, 4)
#elif MAXR == 3
#define DELIVER_B(a, t, g) \
	DELIVER(a, t, g, 1) DELIVER(a, t, g, 2) DELIVER(a, t, g, 3) \
	DELIVER(a, t, g, 4) DELIVER(a, t, g, 5) DELIVER(a, t, g, 6)
#else
#error "MAXR must be 1, 2 or 3"
#endif
#define DELIVER_A(a) \
	DELIVER_B(a, T_PREPARE, 0) DELIVER_B(a, T_PREPARE, 1) \
	DELIVER_B(a, T_ACCEPT, 0) DELIVER_B(a, T_ACCEPT, 1)

/* Proposer i starts round r (any round above its last one): PREPARE. */
#define START(i, r) \
	:: d_step { pphase[i] != 3 && ROUND(pb[i]) < r && (pgen[i] == 0 || r <= MAXR1) -> \
		pb[i] = BALLOT(r, i); pphase[i] = 1; clear_round(i); \
		msgs = msgs | MBIT(T_PREPARE, pgen[i], pb[i]) }

/*
 * Proposer i has promises from acceptors x and y: adopt the highest-ballot
 * accepted value among them unless its binding is known dead, else its own.
 */
#ifdef BROKEN_DEAD_SAME_GEN
#define DEAD_VALUE(i) t_v = OWNVAL(i, pgen[i])
#else
#define DEAD_VALUE(i) t_v = 0	/* run the put in the next generation */
#endif
#ifdef FAST
/*
 * Nothing classic accepted among the two promises: the votes at F decide.
 * One value (or the same twice): that one; two different ones: either (no
 * value was chosen at F; the daemon takes the first it heard).
 */
#define FAST_PICK(i, x, y) \
	t_v = 0; \
	if \
	:: t_hb == 0 -> \
		if \
		:: pfslot[i * NA + x] == 0 -> t_v = pfslot[i * NA + y] \
		:: pfslot[i * NA + y] == 0 -> t_v = pfslot[i * NA + x] \
		:: pfslot[i * NA + x] != 0 && pfslot[i * NA + y] != 0 -> \
			if \
			:: t_v = pfslot[i * NA + x] \
			:: t_v = pfslot[i * NA + y] \
			fi \
		fi \
	:: else -> skip \
	fi
#else
#define FAST_PICK(i, x, y) t_v = 0
#endif
#define PHASE2(i, x, y) \
	:: d_step { pphase[i] == 1 && pslot[i * NA + x] != 0 && pslot[i * NA + y] != 0 -> \
		t_hb = pslot[i * NA + x]; \
		if :: pslot[i * NA + y] > t_hb -> t_hb = pslot[i * NA + y] :: else -> skip fi; \
		t_hb = t_hb - 1; \
		FAST_PICK(i, x, y); \
		if \
		:: t_hb == 0 && t_v != 0 && ended0 && pgen[i] == 0 -> DEAD_VALUE(i) \
		:: t_hb == 0 && t_v != 0 && !(ended0 && pgen[i] == 0) -> skip \
		:: t_hb == 0 && t_v == 0 -> t_v = OWNVAL(i, pgen[i]) \
		:: t_hb != 0 && ended0 && pgen[i] == 0 -> DEAD_VALUE(i) \
		:: else -> t_v = pval[GB(pgen[i], t_hb)] \
		fi; \
		if \
		:: t_v == 0 -> \
			pgen[i] = 1; pb[i] = 0; pphase[i] = 0; clear_round(i); PFAST_RESET(i) \
		:: else -> \
			assert(pval[GB(pgen[i], pb[i])] == 0 || pval[GB(pgen[i], pb[i])] == t_v); \
			pval[GB(pgen[i], pb[i])] = t_v; \
			msgs = msgs | MBIT(T_ACCEPT, pgen[i], pb[i]); \
			pphase[i] = 2; clear_round(i) \
		fi; \
		t_hb = 0; t_v = 0; gc0() }

/* Proposer i hears that generation 0 ended: its put runs in generation 1. */
#ifdef FAST
#define PFAST_RESET(i) pfast[i] = 0
#else
#define PFAST_RESET(i) skip
#endif
#define NEXT_GEN(i) \
	:: d_step { ended0 && pgen[i] == 0 -> \
		pgen[i] = 1; pb[i] = 0; pphase[i] = 0; clear_round(i); PFAST_RESET(i); gc0() }

/* Erasure reaches acceptor a (retransmitted until acknowledged). */
#define ERASE(a) \
	:: d_step { ended0 && agen[a] == 0 -> agen[a] = 1; aprom[a] = 0; aaccb[a] = 0; AFV_RESET(a); \
		gc0() }

#ifdef NO_QUIET
#define QUIET_MARK skip
#define QUIET_EXPIRE(a) skip
#else
#ifdef FAST
/* A fast round active at the restart is abandoned too (its wait is far shorter). */
#define OLD_FAST(i) if :: pphase[i] == 4 -> pfold[i] = 1 + pgen[i] :: else -> pfold[i] = 0 fi
#define EXPIRE_FAST(i) \
	if \
	:: pfold[i] != 0 -> \
		msgs = msgs & ~MFBIT(pfold[i] - 1, i); \
		if :: pphase[i] == 4 && pgen[i] == pfold[i] - 1 -> pphase[i] = 0; clear_round(i) \
		   :: else -> skip fi; \
		pfold[i] = 0 \
	:: else -> skip \
	fi
#else
#define OLD_FAST(i) skip
#define EXPIRE_FAST(i) skip
#endif

inline old_round(i)
{
	if
	:: pphase[i] == 1 || pphase[i] == 2 -> poldb[i] = GB(pgen[i], pb[i])
	:: else -> poldb[i] = 0
	fi;
	OLD_FAST(i)
}

/*
 * The quiet period has passed: every message sent before the restart, and
 * every message of a round that was active at the restart, has expired; such
 * a round is abandoned by its proposer.
 */
inline expire_round(i)
{
	if
	:: poldb[i] != 0 ->
		t_g = poldb[i] / (NB + 1);
		t_b = poldb[i] % (NB + 1);
		msgs = msgs & ~(MBIT(T_PREPARE, t_g, t_b) | MBIT(T_ACCEPT, t_g, t_b));
		if
		:: pgen[i] == t_g && pb[i] == t_b && (pphase[i] == 1 || pphase[i] == 2) ->
			pphase[i] = 0; clear_round(i)
		:: else -> skip
		fi;
		poldb[i] = 0; t_g = 0; t_b = 0
	:: else -> skip
	fi
}

#define QUIET_MARK oldmsgs = msgs; old_round(0); old_round(1)
#define QUIET_EXPIRE(a) \
	if \
	:: asmask[a] == 0 -> \
		msgs = msgs & ~oldmsgs; oldmsgs = 0; expire_round(0); expire_round(1); \
		EXPIRE_FAST(0); EXPIRE_FAST(1) \
	:: else -> skip \
	fi
#endif

/* Acceptor a loses its state (non-durable restart, new incarnation). */
#ifdef BROKEN_NO_SYNC
#define RESTART(a) \
	:: d_step { restarts < MAXRESTART -> restarts++; \
		agen[a] = 0; aprom[a] = 0; aaccb[a] = 0; AFV_RESET(a) }
#else
#define RESTART(a) \
	:: d_step { restarts < MAXRESTART && asynced[a] -> restarts++; \
		agen[a] = 0; aprom[a] = 0; aaccb[a] = 0; AFV_RESET(a); asynced[a] = 0; asmask[a] = 0; \
		FLOOR_RESET(a); GET_FORGET(a); QUIET_MARK }
#endif

#ifdef FAST
/*
 * The vote at F: copied; merged as the daemon does (the first one heard
 * stays). A copied vote is a vote: the acceptor reports it in promises and
 * answers OK to a fast ACCEPT of that value, so the monitor counts it.
 */
#define SYNC_FAST_COPY(a, s) \
	afv[a] = afv[s]; if :: afv[a] != 0 -> record_fast(a, afv[a]) :: else -> skip fi
#define SYNC_FAST_MERGE(a, s) \
	if :: aaccb[a] != 0 -> afv[a] = 0 \
	   :: aaccb[a] == 0 && afv[a] == 0 && afv[s] != 0 -> afv[a] = afv[s]; record_fast(a, afv[a]) \
	   :: else -> skip fi
#else
#define SYNC_FAST_COPY(a, s) skip
#define SYNC_FAST_MERGE(a, s) skip
#endif

/*
 * Restarted acceptor a copies the acceptor state of synced acceptor s (a
 * SYNC_REQ/SYNC_REPLY exchange; a is silent meanwhile, so copying a snapshot
 * now or merging it later is the same). Synced after MAJ_OTHERS sources.
 */
#define SYNC(a, s) \
	:: d_step { !asynced[a] && asynced[s] && (asmask[a] & (1 << s)) == 0 -> \
		QUIET_EXPIRE(a); \
		if \
		:: agen[s] > agen[a] -> \
			agen[a] = agen[s]; aprom[a] = aprom[s]; aaccb[a] = aaccb[s]; SYNC_FAST_COPY(a, s) \
		:: agen[s] == agen[a] -> \
			if :: aprom[s] > aprom[a] -> aprom[a] = aprom[s] :: else -> skip fi; \
			if :: aaccb[s] > aaccb[a] -> aaccb[a] = aaccb[s] :: else -> skip fi; \
			SYNC_FAST_MERGE(a, s) \
		:: else -> skip \
		fi; \
		FLOOR_MERGE(a, s); \
		asmask[a] = asmask[a] | (1 << s); \
		if \
		:: POP3(asmask[a]) >= MAJ_OTHERS -> asynced[a] = 1; asmask[a] = 0 \
		:: else -> skip \
		fi; \
		gc0() }

#ifdef GC
#ifdef BROKEN_GC_NO_FLOOR
#define SET_FLOOR(a) skip
#else
#define SET_FLOOR(a) afloor[a] = 1
#endif
#ifdef BROKEN_GC_NOT_BARE
#define GC_BARE(a) 1
#else
#define GC_BARE(a) BARE(a)
#endif
/*
 * Acceptor a collects the key's tombstone (docs/design.md §4.6): generation 0
 * ended and every acceptor held its tombstone (rule 1, gcok once it held),
 * a's tombstone is bare (rule 3: nothing promised or accepted in generation
 * 1) and every acceptor is synced (rule 4). a forgets the entry — it is back
 * to a key it never held, whose first generation is 0 — and its bucket's
 * floor becomes 1, the collected generation. Rule 2 (the delay bound) is not
 * modelled: generation 0's messages stay deliverable, so a late one may
 * reach a at any moment after, which is the case the floor is there for.
 */
#define COLLECT(a) \
	:: d_step { ended0 && agen[a] == 1 && GC_BARE(a) && \
	   asynced[0] && asynced[1] && asynced[2] && \
	   (gcok || (agen[0] == 1 && agen[1] == 1 && agen[2] == 1)) -> \
		gcok = 1; agen[a] = 0; aprom[a] = 0; aaccb[a] = 0; AFV_RESET(a); SET_FLOOR(a) }
#else
#define COLLECT(a)
#endif

#if MAXR == 1
#define START_I(i) START(i, 1)
#elif MAXR == 2
#define START_I(i) START(i, 1) START(i, 2)
#else
#define START_I(i) START(i, 1) START(i, 2) START(i, 3)
#endif

active proctype system()
{
	d_step {
		asynced[0] = 1; asynced[1] = 1; asynced[2] = 1
	};
	/* a state where nothing is left to do is a valid end */
end:	do
	START_I(0)
	START_I(1)
	FAST_START(0) FAST_START(1) FAST_RESEND
	PHASE2(0, 0, 1) PHASE2(0, 0, 2) PHASE2(0, 1, 2)
	PHASE2(1, 0, 1) PHASE2(1, 0, 2) PHASE2(1, 1, 2)
	DELIVER_A(0)
	DELIVER_A(1)
	DELIVER_A(2)
	DELIVER_FA(0) DELIVER_FA(1) DELIVER_FA(2)
	OBSERVE_F(1) OBSERVE_F(2) OBSERVE_F(3) OBSERVE_F(4)
	GET_READ(0) GET_READ(1) GET_READ(2) GET_LEARN(1) GET_LEARN(2)
	:: d_step { !ended0 && ERASURES > 0 -> ended0 = 1 }	/* gen 0's binding ends */
	NEXT_GEN(0) NEXT_GEN(1)
	ERASE(0) ERASE(1) ERASE(2)
	COLLECT(0) COLLECT(1) COLLECT(2)
	/* acceptors are interchangeable: restarting acceptor 0 stands for any */
	RESTART(0)
	SYNC(0, 1) SYNC(0, 2)
	SYNC(1, 0) SYNC(1, 2)
	SYNC(2, 0) SYNC(2, 1)
	od
}
