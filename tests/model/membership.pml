/*
 * membership.pml — model of voter-set changes (docs/design.md §10): configurations
 * (c, V_c), configuration numbers on every message, ballots ordered
 * (c, round, node), single-step changes and the catch-up of a new voter
 * from the frozen state of a majority of the old configuration.
 *
 * 5 acceptors, V_0 = {0..4}, V_1 = V_0 - {4}, V_2 = V_1 - {3} (5 -> 4 -> 3);
 * 2 proposers with one classic ballot each and (with FAST) one fast round
 * each; one key, one generation, no restarts, no erasure. See README.md.
 *
 * Compile-time switches (spin -DNAME):
 *   FAST                   each proposer may first send its value at the
 *                          fast ballot F_c of a configuration c (fast quorum:
 *                          every voter of V_c)
 *   DECIDE_ANY_TIME        the change to c+1 may be decided at any moment
 *                          (the design as first worded; expected to FAIL:
 *                          see README); default: only once a majority of V_c
 *                          has caught up in c
 *   BROKEN_NO_CATCHUP      an acceptor that moves to c+1 answers at once,
 *                          with its own state of c (expected to FAIL)
 *   BROKEN_STALE_CONF      a removed acceptor keeps its state and answers
 *                          messages of any configuration, and a proposer
 *                          counts an answer from any acceptor (expected to
 *                          FAIL)
 *   BROKEN_FAST_REVOTE     (with FAST) rule 4 left out: an acceptor votes at
 *                          F_c when it accepted nothing in c, though it
 *                          holds a copied acceptance of an older
 *                          configuration (expected to FAIL)
 */

#define NA 5			/* acceptors 0..4 */
#define NC 3			/* configurations 0..2 */
#define NP 2			/* proposers 0..1, values 1..2 */
#define NK (1 + NP)		/* ballots per configuration: F_c, then one per proposer */

/* voters and majorities of each configuration */
#define VMASK(c) ((c) == 0 -> 31 : ((c) == 1 -> 15 : 7))
#define MAJ(c) ((c) == 2 -> 2 : 3)
#define VOTER(a, c) ((VMASK(c) >> (a)) & 1)
#define POP5(m) (((m) & 1) + (((m) >> 1) & 1) + (((m) >> 2) & 1) + (((m) >> 3) & 1) + (((m) >> 4) & 1))

/*
 * Ballots: 0 = none; ballot (c, k) = 1 + NK·c + k, totally ordered with
 * every ballot of c+1 above every ballot of c. k = 0 is the fast ballot F_c,
 * k = 1 + i the classic ballot of proposer i in c.
 */
#define BAL(c, k) (1 + NK * (c) + (k))
#define FBAL(c) BAL(c, 0)
#define CBAL(c, i) BAL(c, 1 + (i))
#define CONF(b) (((b) - 1) / NK)
#define OWNER(b) (((b) - 1) % NK - 1)
#define NB (NK * NC)		/* ballots 1..NB */
#define OWNVAL(i) ((i) + 1)

/*
 * The network: the set of every message ever sent; any acceptor may receive
 * any of them at any time, any number of times, or never. PREPARE and
 * ACCEPT of ballot b carry conf(b); FAST(c, i) is proposer i's value at F_c.
 */
#define MPBIT(b) (1 << ((b) - 1))
#define MABIT(b) (1 << (NB + (b) - 1))
#define MFBIT(c, i) (1 << (2 * NB + NP * (c) + (i)))
int msgs;

/* configurations: the highest decided one */
byte dec;

/* acceptors: current configuration, and per configuration its state
 * (frozen once the acceptor moved past it) */
byte cfg[NA];
byte prom[NA * NC];		/* highest promised ballot */
byte accb[NA * NC];		/* ballot of the accepted value (F_c: the vote at F) */
byte accv[NA * NC];		/* accepted value */
byte cuin[NC];			/* acceptors that caught up in c (all of V_0 at start) */
#define ST(a, c) ((a) * NC + (c))
#define LIVE(a) (VOTER(a, cfg[a]) && ((cuin[cfg[a]] >> (a)) & 1))

/* proposers */
byte pc[NP];			/* configuration of the current round */
byte pb[NP];			/* its ballot, 0: none yet */
byte pphase[NP];		/* 0 idle, 1 preparing, 2 accepting, 3 learned, 4 fast */
bit pused[NP];			/* its classic ballot was started */
bit pfast[NP];			/* its fast round was tried */
byte ppm[NP];			/* acceptors that promised the current ballot */
byte phb[NP];			/* highest accepted ballot among those promises */
byte pvm[NP];			/* values accepted at phb among them (bit v) */
byte pacc[NP];			/* acceptors that accepted / voted the current round */

/* ghost state for the properties */
byte pval[NB + 1];		/* value of classic ballot b */
byte accby[NB + 1];		/* acceptors that ever accepted ballot b */
byte fby[NC * NP];		/* acceptors that ever voted value v at F_c */
byte chosen;			/* the chosen value, 0: none */
byte learned;			/* the learned value, 0: none */

hidden byte t_c, t_s, t_v;

inline choose(v)
{
	if
	:: chosen == 0 -> chosen = v
	:: else -> assert(chosen == v)	/* agreement */
	fi
}

inline learn(v)
{
	if
	:: learned == 0 -> learned = v
	:: else -> assert(learned == v)	/* learned values never differ */
	fi;
	assert(learned == chosen)
}

/*
 * The acceptor a handles a message of configuration t_c in its state of
 * configuration t_s: its own (the design), or, BROKEN_STALE_CONF, whatever
 * the message says.
 */
#ifdef BROKEN_STALE_CONF
/* any configuration's message, by a live voter or a removed acceptor (which
 * keeps its state and goes on answering, as a daemon that missed the change
 * would), and the proposer counts every answer */
#define ANSWERS(a, c) (((c) == cfg[a] && LIVE(a)) || !VOTER(a, cfg[a]))
#define COUNTS(a, c) 1
#else
#define COUNTS(a, c) VOTER(a, c)
#define ANSWERS(a, c) ((c) == cfg[a] && LIVE(a))
#endif
#define SC(a) ST(a, cfg[a])
#ifdef BROKEN_STALE_CONF
#define CMASK(c) 31
#else
#define CMASK(c) VMASK(c)
#endif

/* PREPARE(b) at acceptor a: promise b > promised, report the accepted one. */
#define PREPARE_USEFUL(a, b) (ANSWERS(a, CONF(b)) && (b) > prom[SC(a)])
#define DELIVER_P(a, b) \
	:: d_step { (msgs & MPBIT(b)) && PREPARE_USEFUL(a, b) -> \
		prom[SC(a)] = b; \
		if \
		:: pb[OWNER(b)] == (b) && pphase[OWNER(b)] == 1 && COUNTS(a, CONF(b)) -> \
			ppm[OWNER(b)] = ppm[OWNER(b)] | (1 << (a)); \
			if \
			:: accb[SC(a)] > phb[OWNER(b)] -> \
				phb[OWNER(b)] = accb[SC(a)]; pvm[OWNER(b)] = 1 << accv[SC(a)] \
			:: accb[SC(a)] == phb[OWNER(b)] && accb[SC(a)] != 0 -> \
				pvm[OWNER(b)] = pvm[OWNER(b)] | (1 << accv[SC(a)]) \
			:: else -> skip \
			fi \
		:: else -> skip \
		fi }

/* ACCEPT(b, pval[b]) at acceptor a: accept b >= promised. */
#define ACCEPT_USEFUL(a, b) (ANSWERS(a, CONF(b)) && (b) >= prom[SC(a)] && (b) != accb[SC(a)])
#define DELIVER_A(a, b) \
	:: d_step { (msgs & MABIT(b)) && ACCEPT_USEFUL(a, b) -> \
		prom[SC(a)] = b; accb[SC(a)] = b; accv[SC(a)] = pval[b]; \
		if \
		:: VOTER(a, CONF(b)) -> \
			accby[b] = accby[b] | (1 << (a)); \
			if \
			:: POP5(accby[b] & VMASK(CONF(b))) >= MAJ(CONF(b)) -> choose(pval[b]) \
			:: else -> skip \
			fi; \
		:: else -> skip \
		fi; \
		if \
		:: pb[OWNER(b)] == (b) && pphase[OWNER(b)] == 2 && COUNTS(a, CONF(b)) -> \
			pacc[OWNER(b)] = pacc[OWNER(b)] | (1 << (a)); \
			if \
			:: POP5(pacc[OWNER(b)] & CMASK(CONF(b))) >= MAJ(CONF(b)) -> \
				learn(pval[b]); pphase[OWNER(b)] = 3 \
			:: else -> skip \
			fi \
		:: else -> skip \
		fi }

/*
 * FAST(c, i) at acceptor a: vote OWNVAL(i) at F_c if nothing is promised
 * above F_c and (rule 4) nothing is accepted at any ballot, copies of older
 * configurations included; answer OK again to the value voted.
 */
#ifdef BROKEN_FAST_REVOTE
#define MAY_VOTE(a, c) (prom[SC(a)] <= FBAL(c) && accb[SC(a)] < FBAL(c))
#else
#define MAY_VOTE(a, c) (prom[SC(a)] <= FBAL(c) && accb[SC(a)] == 0)
#endif
#define FAST_OK(a, c, i) \
	(accb[SC(a)] == FBAL(c) && accv[SC(a)] == OWNVAL(i) && prom[SC(a)] == FBAL(c) && \
	 pphase[i] == 4 && pc[i] == (c) && ((pacc[i] >> (a)) & 1) == 0 && VOTER(a, c))
#define FAST_USEFUL(a, c, i) (ANSWERS(a, c) && (MAY_VOTE(a, c) || FAST_OK(a, c, i)))
#define DELIVER_F(a, c, i) \
	:: d_step { (msgs & MFBIT(c, i)) && FAST_USEFUL(a, c, i) -> \
		if \
		:: MAY_VOTE(a, c) -> \
			prom[SC(a)] = FBAL(c); accb[SC(a)] = FBAL(c); accv[SC(a)] = OWNVAL(i); \
			if \
			:: VOTER(a, c) -> \
				fby[(c) * NP + (i)] = fby[(c) * NP + (i)] | (1 << (a)); \
				if \
				:: (fby[(c) * NP + (i)] & VMASK(c)) == VMASK(c) -> choose(OWNVAL(i)) \
				:: else -> skip \
				fi \
			:: else -> skip \
			fi \
		:: else -> skip \
		fi; \
		if \
		:: FAST_OK(a, c, i) -> \
			pacc[i] = pacc[i] | (1 << (a)); \
			if \
			:: (pacc[i] & VMASK(c)) == VMASK(c) -> learn(OWNVAL(i)); pphase[i] = 3 \
			:: else -> skip \
			fi \
		:: else -> skip \
		fi }

#ifdef FAST
#define DELIVER_FC(a, c) DELIVER_F(a, c, 0) DELIVER_F(a, c, 1)
#else
#define DELIVER_FC(a, c)
#endif
#define DELIVER_C(a, c) \
	DELIVER_P(a, CBAL(c, 0)) DELIVER_P(a, CBAL(c, 1)) \
	DELIVER_A(a, CBAL(c, 0)) DELIVER_A(a, CBAL(c, 1)) DELIVER_FC(a, c)
#define DELIVER_ALL(a) DELIVER_C(a, 0) DELIVER_C(a, 1) DELIVER_C(a, 2)

/* Proposer i starts its classic ballot in a decided configuration c. */
#define START(i, c) \
	:: d_step { !pused[i] && pphase[i] != 3 && (c) <= dec && ((gcd >> (c)) & 1) == 0 -> \
		pused[i] = 1; pc[i] = c; pb[i] = CBAL(c, i); pphase[i] = 1; \
		ppm[i] = 0; phb[i] = 0; pvm[i] = 0; pacc[i] = 0; \
		msgs = msgs | MPBIT(pb[i]) }

/* Proposer i's fast round in configuration c, before its classic ballot. */
#ifdef FAST
#define FAST_START(i, c) \
	:: d_step { !pfast[i] && !pused[i] && pphase[i] == 0 && (c) <= dec && ((gcd >> (c)) & 1) == 0 -> \
		pfast[i] = 1; pc[i] = c; pphase[i] = 4; pacc[i] = 0; \
		msgs = msgs | MFBIT(c, i) }
#else
#define FAST_START(i, c)
#endif

/*
 * Phase 2 with the promises of a majority of V_c: the value of the highest
 * accepted ballot among them (any of them when that is F_c and they differ),
 * else its own value v.
 */
#define PHASE2(i, v) \
	:: d_step { pphase[i] == 1 && POP5(ppm[i] & VMASK(pc[i])) >= MAJ(pc[i]) && \
	   ((phb[i] == 0 && (v) == OWNVAL(i)) || (phb[i] != 0 && ((pvm[i] >> (v)) & 1))) -> \
		pval[pb[i]] = v; msgs = msgs | MABIT(pb[i]); \
		pphase[i] = 2; pacc[i] = 0; ppm[i] = 0; phb[i] = 0; pvm[i] = 0 }

/* The change to configuration dec + 1 is decided. */
#ifdef DECIDE_ANY_TIME
#define DECIDE :: d_step { dec < NC - 1 -> dec++ }
#else
#define DECIDE :: d_step { dec < NC - 1 && POP5(cuin[dec] & VMASK(dec)) >= MAJ(dec) -> dec++ }
#endif

/*
 * Acceptor a (a voter of its configuration c) moves to c + 1 once decided: its
 * state of c is frozen. A voter of c + 1 then answers nothing in c + 1 until
 * it caught up (BROKEN_NO_CATCHUP: at once, with its state of c).
 */
#ifdef BROKEN_NO_CATCHUP
#define MOVE_STATE(a, c) \
	if \
	:: VOTER(a, (c) + 1) -> \
		prom[ST(a, (c) + 1)] = prom[ST(a, c)]; accb[ST(a, (c) + 1)] = accb[ST(a, c)]; \
		accv[ST(a, (c) + 1)] = accv[ST(a, c)]; cuin[(c) + 1] = cuin[(c) + 1] | (1 << (a)) \
	:: else -> skip \
	fi
#elif defined(BROKEN_STALE_CONF)
/* a removed acceptor keeps its state */
#define MOVE_STATE(a, c) \
	if \
	:: !VOTER(a, (c) + 1) -> \
		prom[ST(a, (c) + 1)] = prom[ST(a, c)]; accb[ST(a, (c) + 1)] = accb[ST(a, c)]; \
		accv[ST(a, (c) + 1)] = accv[ST(a, c)] \
	:: else -> skip \
	fi
#else
#define MOVE_STATE(a, c) skip
#endif
#define MOVE(a, c) \
	:: d_step { cfg[a] == (c) && (c) < dec && VOTER(a, c) -> cfg[a] = (c) + 1; MOVE_STATE(a, c); \
		GC(0); GC(1) }

/*
 * Catch-up: voter a of c + 1 copies, from the frozen states of c of the
 * majority S of V_c (every member moved past c), the highest promise and the
 * highest-ballot accepted value (the first source's at a tie at F_c). The
 * copies keep their ballots of c.
 */
inline copy_from(a, c, s)
{
	if
	:: prom[ST(s, c)] > prom[ST(a, c + 1)] -> prom[ST(a, c + 1)] = prom[ST(s, c)]
	:: else -> skip
	fi;
	if
	:: accb[ST(s, c)] > accb[ST(a, c + 1)] ->
		accb[ST(a, c + 1)] = accb[ST(s, c)]; accv[ST(a, c + 1)] = accv[ST(s, c)]
	:: else -> skip
	fi
}
#define FROZEN(s, c) (cfg[s] > (c))
#define CATCHUP3(a, c, x, y, z) \
	:: d_step { cfg[a] == (c) + 1 && VOTER(a, (c) + 1) && ((cuin[(c) + 1] >> (a)) & 1) == 0 && \
	   FROZEN(x, c) && FROZEN(y, c) && FROZEN(z, c) -> \
		copy_from(a, c, x); copy_from(a, c, y); copy_from(a, c, z); \
		cuin[(c) + 1] = cuin[(c) + 1] | (1 << (a)); GC(0); GC(1) }
/* majorities of V_0 = {0..4} (3 of 5) and of V_1 = {0..3} (3 of 4) */
#define CATCHUP_FROM0(a) \
	CATCHUP3(a, 0, 0, 1, 2) CATCHUP3(a, 0, 0, 1, 3) CATCHUP3(a, 0, 0, 1, 4) \
	CATCHUP3(a, 0, 0, 2, 3) CATCHUP3(a, 0, 0, 2, 4) CATCHUP3(a, 0, 0, 3, 4) \
	CATCHUP3(a, 0, 1, 2, 3) CATCHUP3(a, 0, 1, 2, 4) CATCHUP3(a, 0, 1, 3, 4) \
	CATCHUP3(a, 0, 2, 3, 4)
#define CATCHUP_FROM1(a) \
	CATCHUP3(a, 1, 0, 1, 2) CATCHUP3(a, 1, 0, 1, 3) CATCHUP3(a, 1, 0, 2, 3) \
	CATCHUP3(a, 1, 1, 2, 3)
#ifdef BROKEN_NO_CATCHUP
#define CATCHUPS
#else
#define CATCHUPS \
	CATCHUP_FROM0(0) CATCHUP_FROM0(1) CATCHUP_FROM0(2) CATCHUP_FROM0(3) \
	CATCHUP_FROM1(0) CATCHUP_FROM1(1) CATCHUP_FROM1(2)
#endif

/*
 * Configuration c is over for good once every voter of V_c moved past it and
 * every voter of V_c+1 caught up (or moved on): nothing can answer in c any
 * more and its frozen states will not be copied again. Its messages, frozen
 * states, ghost records and proposer rounds are dropped to merge equivalent
 * states (the chosen and learned values stay).
 */
#define MOVED_ALL(c) ((cfg[0] > (c) || !VOTER(0, c)) && (cfg[1] > (c) || !VOTER(1, c)) && \
	(cfg[2] > (c) || !VOTER(2, c)) && (cfg[3] > (c) || !VOTER(3, c)) && (cfg[4] > (c) || !VOTER(4, c)))
#define CAUGHT(a, c) (!VOTER(a, c) || ((cuin[c] >> (a)) & 1) || cfg[a] > (c))
#define CAUGHT_ALL(c) (CAUGHT(0, c) && CAUGHT(1, c) && CAUGHT(2, c) && CAUGHT(3, c) && CAUGHT(4, c))
byte gcd;			/* configurations dropped */
#if 1
#define GC_MSGS(c) (MPBIT(CBAL(c, 0)) | MPBIT(CBAL(c, 1)) | MABIT(CBAL(c, 0)) | MABIT(CBAL(c, 1)) | \
	MFBIT(c, 0) | MFBIT(c, 1))
inline gc_prop(i, c)
{
	if
	:: pc[i] == (c) && pphase[i] != 3 && pphase[i] != 0 ->
		pphase[i] = 0; ppm[i] = 0; phb[i] = 0; pvm[i] = 0; pacc[i] = 0; pb[i] = 0; pc[i] = 0
	:: pc[i] == (c) && (pphase[i] == 3 || pphase[i] == 0) -> pb[i] = 0; pc[i] = 0; pacc[i] = 0
	:: else -> skip
	fi
}
#define GC(c) \
	if \
	:: ((gcd >> (c)) & 1) == 0 && MOVED_ALL(c) && CAUGHT_ALL((c) + 1) -> \
		gcd = gcd | (1 << (c)); msgs = msgs & ~GC_MSGS(c); \
		t_s = 0; \
		do \
		:: t_s < NA -> prom[ST(t_s, c)] = 0; accb[ST(t_s, c)] = 0; accv[ST(t_s, c)] = 0; t_s++ \
		:: else -> break \
		od; \
		t_s = 0; \
		pval[CBAL(c, 0)] = 0; pval[CBAL(c, 1)] = 0; accby[CBAL(c, 0)] = 0; accby[CBAL(c, 1)] = 0; \
		fby[(c) * NP] = 0; fby[(c) * NP + 1] = 0; cuin[c] = 0; \
		gc_prop(0, c); gc_prop(1, c) \
	:: else -> skip \
	fi
#endif

active proctype system()
{
	d_step { cuin[0] = 31 };
	/* a state where nothing is left to do is a valid end */
end:	do
	/* proposer 0 runs a classic ballot in configuration 0; proposer 1 (with
	 * FAST, first its fast round) in configuration 1 or 2 */
	START(0, 0)
	START(1, 1) START(1, 2)
	FAST_START(1, 1) FAST_START(1, 2)
	PHASE2(0, 1) PHASE2(0, 2) PHASE2(1, 1) PHASE2(1, 2)
	DELIVER_ALL(0) DELIVER_ALL(1) DELIVER_ALL(2) DELIVER_ALL(3) DELIVER_ALL(4)
	DECIDE
	MOVE(0, 0) MOVE(1, 0) MOVE(2, 0) MOVE(3, 0) MOVE(4, 0)
	MOVE(0, 1) MOVE(1, 1) MOVE(2, 1) MOVE(3, 1)
	CATCHUPS
	od
}
