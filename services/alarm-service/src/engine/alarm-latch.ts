export type LatchDecision = 'RAISE' | 'CLEAR' | undefined;

/** Chattering: this many raises within this time. */
export interface ChatterLimit {
  raises: number;
  withinUs: number;
}

/**
 * Hysteresis for one sensor + rule (+ channel): RAISE once the raise condition
 * has held for `raiseForUs` of event time, then nothing until the clear
 * condition has held for `clearForUs`, then CLEAR. Values between the two
 * limits keep the current state, so a value hovering at the limit cannot flap.
 */
export class AlarmLatch {
  active = false;
  /**
   * Raised `chatter.raises` times within `chatter.withinUs` (ISA-18.2: chattering):
   * held active until the clear condition has held for `withinUs`.
   */
  chattering = false;
  private raiseSinceUs: number | undefined;
  private clearSinceUs: number | undefined;
  private raises: number[] = [];

  constructor(
    private raiseForUs: number,
    private clearForUs: number,
    private chatter?: ChatterLimit,
  ) {}

  configure(raiseForUs: number, clearForUs: number, chatter?: ChatterLimit): void {
    this.raiseForUs = raiseForUs;
    this.clearForUs = clearForUs;
    this.chatter = chatter;
  }

  /** Marks the alarm as already raised (e.g. found open in the database at start). */
  setActive(): void {
    this.active = true;
    this.raiseSinceUs = undefined;
    this.clearSinceUs = undefined;
  }

  /**
   * One evaluation at event time `timeUs`: `raise` = the raise condition holds,
   * `clear` = the clear condition holds (both false between the two limits).
   */
  evaluate(timeUs: number, raise: boolean, clear: boolean): LatchDecision {
    if (!this.active) {
      if (!raise) {
        this.raiseSinceUs = undefined;
        return undefined;
      }
      this.raiseSinceUs ??= timeUs;
      if (timeUs - this.raiseSinceUs < this.raiseForUs) return undefined;
      this.active = true;
      this.raiseSinceUs = undefined;
      this.clearSinceUs = undefined;
      if (this.chatter !== undefined) {
        const since = timeUs - this.chatter.withinUs;
        this.raises = this.raises.filter((t) => t > since);
        this.raises.push(timeUs);
        if (this.raises.length >= this.chatter.raises) this.chattering = true;
      }
      return 'RAISE';
    }
    if (!clear) {
      this.clearSinceUs = undefined;
      return undefined;
    }
    this.clearSinceUs ??= timeUs;
    const hold =
      this.chattering && this.chatter ? Math.max(this.clearForUs, this.chatter.withinUs) : this.clearForUs;
    if (timeUs - this.clearSinceUs < hold) return undefined;
    this.active = false;
    this.chattering = false;
    this.clearSinceUs = undefined;
    this.raiseSinceUs = undefined;
    return 'CLEAR';
  }
}
