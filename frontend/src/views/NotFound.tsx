import { Link } from "react-router-dom";

export function NotFound() {
  return (
    <section className="card empty">
      <h1>Page not found</h1>
      <p>
        There is no view at this address. Go to the <Link to="/">overview</Link>.
      </p>
    </section>
  );
}
