import type { WorkloadClass } from './types.ts';

/** Time and events: timers, epoll sets, signalfd. */
export const TIME_EVENTS: WorkloadClass[] = [];
