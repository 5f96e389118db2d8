package engine

// wheelSlots is the timer wheel's size: 256 ticks of timerTick (2.56 s).
// Deadlines further out wait in their slot for later rounds.
const wheelSlots = 256

// wheel is a hashed timer wheel of tcbs (one timer per tcb, intrusive
// doubly-linked lists). Guarded by e.mu.
type wheel struct {
	slots [wheelSlots]*tcb
	tick  int64 // last tick processed
}

func (w *wheel) init(now int64) { w.tick = now / int64(timerTick) }

// arm sets t's single timer to fire at deadline (engine clock).
func (w *wheel) arm(t *tcb, deadline int64) {
	if t.timerOn {
		w.cancel(t)
	}
	tk := (deadline + int64(timerTick) - 1) / int64(timerTick)
	if tk <= w.tick {
		tk = w.tick + 1
	}
	t.deadline = deadline
	t.slot = int(tk % wheelSlots)
	t.timerOn = true
	head := w.slots[t.slot]
	t.tprev, t.tnext = nil, head
	if head != nil {
		head.tprev = t
	}
	w.slots[t.slot] = t
}

// cancel stops t's timer.
func (w *wheel) cancel(t *tcb) {
	if !t.timerOn {
		return
	}
	if t.tprev != nil {
		t.tprev.tnext = t.tnext
	} else {
		w.slots[t.slot] = t.tnext
	}
	if t.tnext != nil {
		t.tnext.tprev = t.tprev
	}
	t.tprev, t.tnext, t.timerOn = nil, nil, false
}

// advance fires every timer due at now, in tick order.
func (w *wheel) advance(now int64, fire func(*tcb, int64)) {
	target := now / int64(timerTick)
	if target-w.tick > wheelSlots {
		w.tick = target - wheelSlots
	}
	for w.tick < target {
		w.tick++
		s := int(w.tick % wheelSlots)
		list := w.slots[s]
		w.slots[s] = nil
		for t := list; t != nil; {
			next := t.tnext
			t.tprev, t.tnext, t.timerOn = nil, nil, false
			if t.deadline <= now {
				fire(t, now)
			} else {
				w.arm(t, t.deadline) // a later round
			}
			t = next
		}
	}
}
