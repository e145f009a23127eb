/** A binary min-heap ordered by `lt` (pure; the ready and due-time queues of the scheduler). */
export class Heap<T> {
  private readonly a: T[] = [];

  /** @param lt - true when `x` comes before `y` */
  constructor(private readonly lt: (x: T, y: T) => boolean) {}

  get size(): number {
    return this.a.length;
  }

  push(x: T): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.lt(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  /** The first item, left in place. */
  peek(): T | undefined {
    return this.a[0];
  }

  /** Removes and returns the first item. */
  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.lt(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.lt(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }

  clear(): void {
    this.a.length = 0;
  }
}
