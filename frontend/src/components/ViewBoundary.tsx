// Each view renders inside its own error boundary: a view that throws says so and offers a way back,
// while the layout, the navigation and the other views keep working.
import type { ReactNode } from "react";
import { ErrorBoundary, getErrorMessage, type FallbackProps } from "react-error-boundary";
import { Link, useLocation } from "react-router-dom";

function ViewError({ error, resetErrorBoundary }: FallbackProps) {
  return (
    <section className="card empty" role="alert">
      <h1>This view failed</h1>
      <p className="problem">{getErrorMessage(error) ?? String(error)}</p>
      <p className="muted">The rest of the dashboard still works. Try the view again, or go back to the overview.</p>
      <div className="buttons">
        <button type="button" onClick={() => resetErrorBoundary()}>
          Try again
        </button>
        <Link to="/">Back to the overview</Link>
      </div>
    </section>
  );
}

export function ViewBoundary({ children }: { children: ReactNode }) {
  // Routes with parameters keep their boundary across addresses: a new address gets a fresh try.
  const { pathname } = useLocation();
  return (
    <ErrorBoundary FallbackComponent={ViewError} resetKeys={[pathname]}>
      {children}
    </ErrorBoundary>
  );
}
