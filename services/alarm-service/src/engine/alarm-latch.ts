export type LatchDecision = 'RAISE' | 'CLEAR' | undefined;

/**
 * Hysteresis for one sensor + rule (+ channel): RAISE once the raise condition
 * has held for `raiseForUs` of event time, then nothing until the clear
 * condition has held for `clearForUs`, then CLEAR. Values between the two
 * limits keep the current state, so a value hovering at the limit cannot flap.
 */
export class AlarmLatch {
  active = false;
  private raiseSinceUs: number | undefined;
  private clearSinceUs: number | undefined;

  constructor(
    private raiseForUs: number,
    private clearForUs: number,
  ) {}

  configure(raiseForUs: number, clearForUs: number): void {
    this.raiseForUs = raiseForUs;
    this.clearForUs = clearForUs;
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
      return 'RAISE';
    }
    if (!clear) {
      this.clearSinceUs = undefined;
      return undefined;
    }
    this.clearSinceUs ??= timeUs;
    if (timeUs - this.clearSinceUs < this.clearForUs) return undefined;
    this.active = false;
    this.clearSinceUs = undefined;
    this.raiseSinceUs = undefined;
    return 'CLEAR';
  }
}
