// The live timeline: one posts.onTimeline subscription while signed in, whatever the view, whose
// events go straight into the cached timeline; and a small badge that says whether it is live.
import { useSubscription } from '@trpc/tanstack-react-query';
import { warbleErrorCode } from '@warble/client';
import { useRef } from 'react';
import { forgetSession, queryClient, trpc } from './api.ts';
import { applyTimelineEvent } from './timeline-cache.ts';

// A stream that cannot resume (away longer than the server keeps events) starts afresh by itself,
// but not twice in a row: a second refusal that soon is something else, shown to the user.
const AUTO_RESTART_GAP_MS = 10_000;

export function useLiveTimeline() {
  const lastRestart = useRef(0);
  const live = useSubscription(
    trpc.posts.onTimeline.subscriptionOptions(
      {},
      {
        onData: applyTimelineEvent,
        onError: (error) => {
          const code = warbleErrorCode(error);
          // The SDK refreshes expired tokens itself: UNAUTHORIZED here means the session is over.
          if (code === 'UNAUTHORIZED') return forgetSession();
          if (code === 'BAD_REQUEST' && Date.now() - lastRestart.current > AUTO_RESTART_GAP_MS) {
            // After the hook has recorded this error, not in the middle of it.
            queueMicrotask(restart);
          }
        },
      },
    ),
  );
  /** A new stream knows nothing of what it missed: the timeline is read again alongside. */
  function restart() {
    lastRestart.current = Date.now();
    void queryClient.invalidateQueries({ queryKey: trpc.posts.timeline.infiniteQueryKey() });
    live.reset();
  }
  return { status: live.status, restart };
}

const LABELS = { idle: 'Offline', connecting: 'Connecting…', pending: 'Live', error: 'Live updates stopped' };

export function LiveStatus({ status, restart }: ReturnType<typeof useLiveTimeline>) {
  return (
    <span className={`live ${status}`} data-testid="live-status" role="status" aria-live="polite">
      {LABELS[status]}
      {status === 'error' && (
        <button type="button" className="link" onClick={restart}>
          Retry
        </button>
      )}
    </span>
  );
}
