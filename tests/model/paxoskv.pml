/*
 * paxoskv.pml — model of PaxosKV's per-key protocol (DESIGN §3.1–§3.3):
 * single-decree Paxos per generation, erasure with tombstones, the
 * dead-binding rule, and acceptor restart without durable state.
 *
 * 3 acceptors, 2 proposers, one key, two generations (one erasure).
 * See README.md in this directory for the abstraction and the variants.
 *
 * Compile-time switches (spin -DNAME):
 *   MAXR=n                 rounds (ballots) each proposer may try per
 *                          generation (default 2; 3 is supported)
 *   NO_QUIET               sync exactly as DESIGN §3.3 words it, without the
 *                          quiet period (expected to FAIL: see README)
 *   BROKEN_NO_SYNC         a restarted acceptor answers at once, empty
 *   BROKEN_DEAD_SAME_GEN   a proposer that sees a dead-binding value drops it
 *                          but proposes its own value in the same generation
 *   BROKEN_ACCEPT_BELOW_PROMISE  an acceptor accepts below its promise
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

#ifndef NO_QUIET
/* quiet period bookkeeping (see README): what was in flight at the restart */
int oldmsgs;
byte poldb[NP];			/* GB(g, b) of the round active at the restart */
#define GC0_QUIET \
	oldmsgs = oldmsgs & ~GEN0_BITS; \
	if :: poldb[0] <= NB -> poldb[0] = 0 :: else -> skip fi; \
	if :: poldb[1] <= NB -> poldb[1] = 0 :: else -> skip fi
#else
#define GC0_QUIET skip
#endif

/* proposers */
bit pgen[NP];			/* generation the proposer runs in */
byte pb[NP];			/* current (last) ballot, 0 = none yet */
byte pphase[NP];		/* 0 idle, 1 preparing, 2 accepting, 3 learned */
byte pslot[NP * NA];		/* promise of acceptor a: 0 none, else accepted ballot + 1 */
byte pacc[NP];			/* acceptors that accepted the current ballot */

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
#ifdef BROKEN_NO_SYNC
#define GC0_SAFE (restarts == MAXRESTART)
#else
#define GC0_SAFE 1
#endif
#define GEN0_BITS ((1 << NB) - 1 | (1 << (NG * NB + NB)) - (1 << (NG * NB)))

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
		chosen[0] = 0;
		learned[0] = 0
	:: else -> skip
	fi
}

inline clear_round(i)
{
	pslot[i * NA + 0] = 0;
	pslot[i * NA + 1] = 0;
	pslot[i * NA + 2] = 0;
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

/* Acceptor a handles message (t, g, b) of the set. */
inline acc_recv(a, t, g, b)
{
	t_g = g;
	if
	:: t_g < agen[a] -> skip	/* an older generation: ignored */
	:: else ->
		if
		:: t_g > agen[a] ->
			/* hearing of g+1 means g ended: tombstone, fresh instance */
			agen[a] = t_g; aprom[a] = 0; aaccb[a] = 0
		:: else -> skip
		fi;
		if
		:: t == T_PREPARE && b > aprom[a] ->
			aprom[a] = b;
			if
			:: pgen[OWNER(b)] == t_g && pb[OWNER(b)] == b && pphase[OWNER(b)] == 1 ->
				pslot[OWNER(b) * NA + a] = aaccb[a] + 1
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
	(GEN_OF(a, g) > agen[a] || (GEN_OF(a, g) == agen[a] && \
	 (((t) == T_PREPARE && (b) > aprom[a]) || ((t) == T_ACCEPT && ACCEPT_OK(a, b)))))

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
#define PHASE2(i, x, y) \
	:: d_step { pphase[i] == 1 && pslot[i * NA + x] != 0 && pslot[i * NA + y] != 0 -> \
		t_hb = pslot[i * NA + x]; \
		if :: pslot[i * NA + y] > t_hb -> t_hb = pslot[i * NA + y] :: else -> skip fi; \
		t_hb = t_hb - 1; \
		if \
		:: t_hb == 0 -> t_v = OWNVAL(i, pgen[i]) \
		:: t_hb != 0 && ended0 && pgen[i] == 0 -> DEAD_VALUE(i) \
		:: else -> t_v = pval[GB(pgen[i], t_hb)] \
		fi; \
		if \
		:: t_v == 0 -> \
			pgen[i] = 1; pb[i] = 0; pphase[i] = 0; clear_round(i) \
		:: else -> \
			assert(pval[GB(pgen[i], pb[i])] == 0 || pval[GB(pgen[i], pb[i])] == t_v); \
			pval[GB(pgen[i], pb[i])] = t_v; \
			msgs = msgs | MBIT(T_ACCEPT, pgen[i], pb[i]); \
			pphase[i] = 2; clear_round(i) \
		fi; \
		t_hb = 0; t_v = 0; gc0() }

/* Proposer i hears that generation 0 ended: its put runs in generation 1. */
#define NEXT_GEN(i) \
	:: d_step { ended0 && pgen[i] == 0 -> \
		pgen[i] = 1; pb[i] = 0; pphase[i] = 0; clear_round(i); gc0() }

/* Erasure reaches acceptor a (retransmitted until acknowledged). */
#define ERASE(a) \
	:: d_step { ended0 && agen[a] == 0 -> agen[a] = 1; aprom[a] = 0; aaccb[a] = 0; gc0() }

#ifdef NO_QUIET
#define QUIET_MARK skip
#define QUIET_EXPIRE(a) skip
#else
inline old_round(i)
{
	if
	:: pphase[i] == 1 || pphase[i] == 2 -> poldb[i] = GB(pgen[i], pb[i])
	:: else -> poldb[i] = 0
	fi
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
		msgs = msgs & ~oldmsgs; oldmsgs = 0; expire_round(0); expire_round(1) \
	:: else -> skip \
	fi
#endif

/* Acceptor a loses its state (non-durable restart, new incarnation). */
#ifdef BROKEN_NO_SYNC
#define RESTART(a) \
	:: d_step { restarts < MAXRESTART -> restarts++; \
		agen[a] = 0; aprom[a] = 0; aaccb[a] = 0 }
#else
#define RESTART(a) \
	:: d_step { restarts < MAXRESTART && asynced[a] -> restarts++; \
		agen[a] = 0; aprom[a] = 0; aaccb[a] = 0; asynced[a] = 0; asmask[a] = 0; \
		QUIET_MARK }
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
			agen[a] = agen[s]; aprom[a] = aprom[s]; aaccb[a] = aaccb[s] \
		:: agen[s] == agen[a] -> \
			if :: aprom[s] > aprom[a] -> aprom[a] = aprom[s] :: else -> skip fi; \
			if :: aaccb[s] > aaccb[a] -> aaccb[a] = aaccb[s] :: else -> skip fi \
		:: else -> skip \
		fi; \
		asmask[a] = asmask[a] | (1 << s); \
		if \
		:: POP3(asmask[a]) >= MAJ_OTHERS -> asynced[a] = 1; asmask[a] = 0 \
		:: else -> skip \
		fi; \
		gc0() }

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
	PHASE2(0, 0, 1) PHASE2(0, 0, 2) PHASE2(0, 1, 2)
	PHASE2(1, 0, 1) PHASE2(1, 0, 2) PHASE2(1, 1, 2)
	DELIVER_A(0)
	DELIVER_A(1)
	DELIVER_A(2)
	:: d_step { !ended0 && ERASURES > 0 -> ended0 = 1 }	/* gen 0's binding ends */
	NEXT_GEN(0) NEXT_GEN(1)
	ERASE(0) ERASE(1) ERASE(2)
	/* acceptors are interchangeable: restarting acceptor 0 stands for any */
	RESTART(0)
	SYNC(0, 1) SYNC(0, 2)
	SYNC(1, 0) SYNC(1, 2)
	SYNC(2, 0) SYNC(2, 1)
	od
}
