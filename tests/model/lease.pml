/*
 * lease.pml — model of what a daemon may say of its learner, past and
 * within its lease (docs/design.md §5.1): reads from the learner, the
 * answers of a query round and of a restart's copy, and the regain of a
 * lapsed lease.
 *
 * 3 voters, one key whose generation 0 holds v: chosen, accepted and
 * learned everywhere, and returned to a client. v is bound to daemon 0's
 * connectivity: while daemon 0 is cut off, daemons 1 and 2 may each end
 * generation 0 (their failure detector), leaving a tombstone (generation
 * 1). An erasure reaches a daemon over a working link at any later moment,
 * which acknowledges it; a daemon whose erasure a peer has not acknowledged
 * owes that peer an erasure. Daemon 1 or 2 may restart once without state
 * and copy two synced sources, one at a time, before it is synced again.
 *
 * Time is not modelled; the lease's timing is, as two assumptions
 * (docs/design.md §5.1, "Why that is enough" and "Timing"):
 *  - a cut ends the lease of the daemon cut off before the others count it
 *    lost (they end its bindings only after);
 *  - while a daemon holds its lease, an erasure made meanwhile by a daemon
 *    it is connected to reaches it before any read can begin (the bound on
 *    an ERASE in flight over a working link, which a read "well after" the
 *    end exceeds): the model delivers such erasures at once (settle).
 *    Erasures made while it had no lease come at any later moment, which
 *    is what the regain rule is for.
 * A lease is renewed (a heartbeat's echo) by a majority of working links,
 * the daemon itself counted; once lapsed (and after a restart), only from
 * a peer that is synced and owes it no erasure.
 *
 * Reads: a synced daemon holding its lease answers from its learner. Any
 * other daemon queries two daemons (itself, as an acceptor's vote, when it
 * is synced): an answer of generation 1 ends v (absent); an answer flagged
 * chosen is taken as a fact (v); two acceptances of v are v. A daemon that
 * copies learns v from a page flagged chosen, and a get waiting there
 * answers it at that moment (later ones query: it holds no lease). The
 * properties, once a majority held the end of generation 0 at one moment
 * (a lifetime a majority ended stays ended):
 *  - no read past the lease answers v (a query round, a copy);
 *  - a daemon that regains its lease no longer holds v ("So once the lease
 *    holds again, a lifetime a majority ended while we were out is no
 *    longer answered here");
 *  - a daemon that holds its lease answers v only while an erasure made
 *    when it had no lease is still on its way to it ("Once the lease holds
 *    the flag no longer matters: erasures in flight are the ordinary
 *    case"); one made while it held the lease has reached it (settle).
 *
 * Compile-time switches (spin -DNAME), each expected to FAIL:
 *   BROKEN_VOUCH_QUERY   a daemon past its lease says "chosen" in a
 *                        query's answer (acceptor_on_query)
 *   BROKEN_VOUCH_SYNC    a daemon past its lease says "chosen" in a copy's
 *                        page (sync_on_req)
 *   BROKEN_REGAIN        a lapsed lease is regained from any connected
 *                        peer, owed erasures or not (membership.c)
 */

#define N 3

byte gen[N];		/* 0: v's generation; 1: ended here (tombstone) */
bool acc[N];		/* the acceptor holds v accepted in generation 0 */
bool lrn[N];		/* the learner knows v chosen */
bool synced[N];
bool lease[N];
bool acked[N * N];	/* acked[j * N + i]: i acknowledged j's erasure */
bool late[N * N];	/* late[j * N + i]: j's erasure was made while i had no lease */
byte copied[N];		/* a restarted daemon: the sources it copied (bits) */
bool cut;		/* daemon 0 cut off from 1 and 2, both ways */
bool ended;		/* a majority held generation 0's end at once */
byte cuts, restarts;	/* faults left */

#define LINK(i, j) ((i) != (j) && !(cut && ((i) == 0 || (j) == 0)))
#define OWES(j, i) (gen[j] == 1 && !acked[(j) * N + (i)])
/* What daemon j's answer or page says of its learner. */
#ifdef BROKEN_VOUCH_QUERY
#define VOUCH_Q(j) (lrn[j] && gen[j] == 0)
#else
#define VOUCH_Q(j) (lrn[j] && gen[j] == 0 && lease[j])
#endif
#ifdef BROKEN_VOUCH_SYNC
#define VOUCH_S(j) (lrn[j] && gen[j] == 0)
#else
#define VOUCH_S(j) (lrn[j] && gen[j] == 0 && lease[j])
#endif
#ifdef BROKEN_REGAIN
#define COUNTS(i, j) (LINK(i, j))
#else
#define COUNTS(i, j) (LINK(i, j) && (lease[i] || (synced[j] && !OWES(j, i))))
#endif

/*
 * Daemon i ends generation 0 here; held by a majority, the end is final.
 * For a peer that does not hold its lease (or is cut off from i) now, the
 * erasure is a late one: it comes by the fan-out's retransmissions, at
 * any later moment, and not within the bound that settle() models.
 */
byte ek;
inline erase(i)
{
	gen[i] = 1;
	acc[i] = false;
	lrn[i] = false;
	ek = 0;
	do
	:: ek < N -> late[i * N + ek] = !lease[ek] || !LINK(i, ek); ek++
	:: else -> break
	od;
	ek = 0;
	if
	:: gen[0] + gen[1] + gen[2] >= 2 -> ended = true
	:: else -> skip
	fi
}

/* The erasure assumption: a leased daemon hears at once of every erasure
 * made while it held its lease by a daemon it is connected to (and
 * acknowledges it). */
byte si, sj, pass;	/* settle's counters, 0 between steps */
inline settle()
{
	pass = 0;
	do
	:: pass < N ->
		si = 0;
		do
		:: si < N ->
			sj = 0;
			do
			:: sj < N ->
				if
				:: lease[si] && LINK(si, sj) && gen[sj] == 1 && gen[si] == 0 &&
				   !late[sj * N + si] ->
					erase(si);
					acked[sj * N + si] = true
				:: else -> skip
				fi;
				sj++
			:: else -> break
			od;
			si++
		:: else -> break
		od;
		pass++
	:: else -> break
	od;
	si = 0; sj = 0; pass = 0
}

/* True while an erasure made when i had no lease is still on its way to i. */
#define LATE_DUE(i) ((LINK(i, 0) && OWES(0, i) && late[0 * N + (i)]) || \
		     (LINK(i, 1) && OWES(1, i) && late[1 * N + (i)]) || \
		     (LINK(i, 2) && OWES(2, i) && late[2 * N + (i)]))

/*
 * A read answers v on the word of daemon w's learner (w = N: on two
 * acceptances). Once the end is final, only a learner that holds its lease
 * and still waits for an erasure made while it had none may say so (the
 * ordinary case, below); past its lease, never.
 */
inline answer_v(w)
{
	assert(!ended || (w < N && lease[w] && LATE_DUE(w)))
}

/* Daemon r's query round completes on the answers of a and b (distinct). */
inline query(r, a, b)
{
	if
	:: gen[a] == 1 || gen[b] == 1 ->
		if
		:: gen[r] == 0 -> erase(r)
		:: else -> skip
		fi /* absent */
	:: else ->
		if
		:: acc[a] && acc[b] -> answer_v(N)
		:: else -> skip /* no answer yet */
		fi
	fi
}

init {
	byte i, j, k;
	atomic {
		i = 0;
		do
		:: i < N -> acc[i] = true; lrn[i] = true; synced[i] = true; lease[i] = true; i++
		:: else -> break
		od;
		cuts = 1;
		restarts = 1;
		i = 0
	}
	do
	/* daemon 0 cut off: its lease ends before the others count it lost */
	:: atomic { cuts > 0 && !cut -> cuts--; cut = true; lease[0] = false }
	:: atomic { cut -> cut = false }
	/* 1 or 2 ends generation 0, daemon 0 being unheard */
	:: atomic { cut && gen[1] == 0 && synced[1] -> erase(1); settle() }
	:: atomic { cut && gen[2] == 0 && synced[2] -> erase(2); settle() }
	/* an erasure of j reaches i over a working link */
	:: atomic {
		select(i : 0 .. N - 1); select(j : 0 .. N - 1);
		if
		:: LINK(i, j) && OWES(j, i) ->
			if
			:: gen[i] == 0 -> erase(i)
			:: else -> skip
			fi;
			acked[j * N + i] = true;
			settle()
		:: else -> skip
		fi;
		i = 0; j = 0
	}
	/* a heartbeat's echoes renew or end i's lease */
	:: atomic {
		select(i : 0 .. N - 1);
		k = 1;
		j = 0;
		do
		:: j < N -> if :: COUNTS(i, j) -> k++ :: else -> skip fi; j++
		:: else -> break
		od;
		if
		:: k >= 2 && !lease[i] ->
			/* regained: a lifetime a majority ended while it was
			 * out is no longer answered here */
			assert(!(ended && synced[i] && lrn[i] && gen[i] == 0));
			lease[i] = true
		:: k < 2 -> lease[i] = false
		:: else -> skip
		fi;
		i = 0; j = 0; k = 0;
		settle()
	}
	/* a read at i */
	:: atomic {
		select(i : 0 .. N - 1);
		if
		:: synced[i] && lease[i] && gen[i] == 1 -> skip /* absent */
		:: synced[i] && lease[i] && gen[i] == 0 && lrn[i] ->
			answer_v(i)
		:: else ->
			/* the query round: itself (when synced: an acceptor's vote,
			 * its learner past the lease vouching for nothing) and the
			 * peers; the first answer flagged chosen is a fact */
			select(j : 0 .. N - 1); select(k : 0 .. N - 1);
			if
			:: j != i && LINK(i, j) && synced[j] && VOUCH_Q(j) && gen[i] == 0 ->
				lrn[i] = true;
				answer_v(j)
			:: j != k && (j == i || LINK(i, j)) && (k == i || LINK(i, k)) &&
			   (j != i || synced[i]) && (k != i || synced[i]) &&
			   (j == i || synced[j]) && (k == i || synced[k]) -> query(i, j, k)
			:: else -> skip
			fi
		fi;
		i = 0; j = 0; k = 0
	}
	/* 1 or 2 restarts without state */
	:: atomic {
		restarts > 0 -> restarts--;
		select(i : 1 .. 2);
		gen[i] = 0; acc[i] = false; lrn[i] = false; synced[i] = false; lease[i] = false;
		copied[i] = 0;
		j = 0;
		do
		:: j < N -> acked[i * N + j] = false; j++ /* it spreads its erasures again */
		:: else -> break
		od;
		i = 0; j = 0
	}
	/* a restarted daemon copies a synced source's page */
	:: atomic {
		select(i : 1 .. 2); select(j : 0 .. N - 1);
		if
		:: !synced[i] && LINK(i, j) && synced[j] && !((copied[i] >> j) & 1) ->
			if
			:: gen[j] == 1 -> erase(i)
			:: gen[j] == 0 && gen[i] == 0 ->
				acc[i] = acc[i] || acc[j];
				if
				:: VOUCH_S(j) && !lrn[i] ->
					lrn[i] = true;
					answer_v(j) /* a get waiting there answers it at once */
				:: else -> skip
				fi
			:: else -> skip
			fi;
			copied[i] = copied[i] | (1 << j);
			if
			:: copied[i] == (7 - (1 << i)) -> synced[i] = true; copied[i] = 0
			:: else -> skip
			fi
		:: else -> skip
		fi;
		i = 0; j = 0
	}
	od
}
