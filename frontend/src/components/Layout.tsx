// The frame around every view: navigation, connection, theme, sound, login, the offline banner.
import { useState, type ReactNode } from "react";
import { NavLink } from "react-router-dom";
import { isAdmin, logout, live, outbox, preferences, session } from "../state/app";
import { useStore } from "../state/store";
import { beep } from "../util/sound";
import { LoginDialog } from "./LoginDialog";

const LINKS = [
  { to: "/", label: "Overview" },
  { to: "/alerts", label: "Alerts" },
  { to: "/analytics", label: "Analytics" },
];
const ADMIN_LINKS = [{ to: "/keys", label: "API keys" }];

function SoundIcon({ on }: { on: boolean }) {
  return (
    <svg
      width="16"
      height="16"
      viewBox="0 0 16 16"
      aria-hidden="true"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.5"
    >
      <path d="M2 6h3l4-3v10l-4-3H2z" fill="currentColor" />
      {on ? <path d="M11 5.5a3.5 3.5 0 0 1 0 5M12.5 3.5a6 6 0 0 1 0 9" /> : <path d="M11 6l4 4M15 6l-4 4" />}
    </svg>
  );
}

function ConnectionIndicator() {
  const connection = useStore(live, (s) => s.connection);
  const text = { online: "Live", connecting: "Connecting…", offline: "Reconnecting…", refused: "Login required" }[
    connection
  ];
  return (
    <span className={`connection ${connection}`} role="status" aria-live="polite" title={`Live updates: ${text}`}>
      <span className="dot" aria-hidden="true" /> {text}
    </span>
  );
}

function LoginRequiredBanner({ onLogIn }: { onLogIn(): void }) {
  const required = useStore(live, (s) => s.loginRequired);
  const loggedIn = useStore(session, (s) => s !== null);
  if (!required || loggedIn) return null;
  return (
    <div className="banner pending" role="alert">
      This service shows its data to signed-in users only.{" "}
      <button type="button" className="small" onClick={onLogIn}>
        Log in
      </button>
    </div>
  );
}

function OfflineBanner() {
  const offline = useStore(live, (s) => s.connection === "offline" || !s.reachable);
  const queued = useStore(outbox, (q) => q.length);
  if (!offline && queued === 0) return null;
  return (
    <div className={`banner ${offline ? "offline" : "pending"}`} role="alert">
      {offline
        ? "The service is unreachable. You are seeing the last data received; reconnecting automatically."
        : "Back online: sending queued actions…"}
      {queued > 0 && ` ${queued} action(s) queued, sent when the service is back.`}
    </div>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { theme, sound } = useStore(preferences, (p) => p);
  const current = useStore(session, (s) => s);
  const links = isAdmin(current) ? [...LINKS, ...ADMIN_LINKS] : LINKS;
  const [loggingIn, setLoggingIn] = useState(false);
  const toggleTheme = () => preferences.update((p) => ({ ...p, theme: p.theme === "dark" ? "light" : "dark" }));
  const toggleSound = () => {
    preferences.update((p) => ({ ...p, sound: !p.sound }));
    if (preferences.get().sound) beep("low"); // a sample, and browsers allow audio only after a click like this one
  };

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <NavLink to="/" className="brand" aria-label="iot-monitoring overview">
          <span aria-hidden="true">◉</span> iot-monitoring
        </NavLink>
        <nav aria-label="Views">
          {links.map((link) => (
            <NavLink key={link.to} to={link.to} end={link.to === "/"}>
              {link.label}
            </NavLink>
          ))}
        </nav>
        <div className="controls">
          <ConnectionIndicator />
          <button
            type="button"
            className="ghost icon"
            onClick={toggleSound}
            aria-pressed={sound}
            aria-label="Alert sound"
            title={sound ? "Alert sound on" : "Alert sound off"}
          >
            <SoundIcon on={sound} />
          </button>
          <button
            type="button"
            className="ghost icon"
            onClick={toggleTheme}
            aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
            data-testid="theme-toggle"
          >
            {theme === "dark" ? "☀" : "☾"}
          </button>
          {current ? (
            <button
              type="button"
              className="ghost"
              onClick={logout}
              title={`Logged in as ${current.username} (${current.role})`}
            >
              {current.username} · Log out
            </button>
          ) : (
            <button type="button" onClick={() => setLoggingIn(true)}>
              Log in
            </button>
          )}
        </div>
      </header>
      <OfflineBanner />
      <LoginRequiredBanner onLogIn={() => setLoggingIn(true)} />
      <main id="main" tabIndex={-1}>
        {children}
      </main>
      <footer className="bottom">
        <span>Times are local ({Intl.DateTimeFormat().resolvedOptions().timeZone}).</span>
        <a href="/api/docs">API</a>
      </footer>
      {loggingIn && <LoginDialog onClose={() => setLoggingIn(false)} />}
    </>
  );
}
