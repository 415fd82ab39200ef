// API keys (`/keys`, admins): the gateways' keys for POST /api/readings — list, make one (its secret shown
// once), revoke.
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { toast } from "react-toastify";
import { useCreateApiKey, useRevokeApiKey } from "../api/mutations";
import { apiKeysQuery } from "../api/queries";
import type { ApiKey, NewApiKeyCreated } from "../api/types";
import { Notice } from "../components/Notice";
import { isAdmin, live, session, showError } from "../state/app";
import { useStore } from "../state/store";
import { formatTime } from "../util/format";

/** The names in a comma- or space-separated field, once each. */
export const names = (text: string): string[] => [...new Set(text.split(/[\s,]+/).filter(Boolean))];

const scope = (key: ApiKey): string =>
  key.devices.length === 0 && key.locations.length === 0
    ? "Every device"
    : [...key.devices, ...key.locations.map((l) => `at ${l}`)].join(", ");

/** The secret of a key just made: the service never shows it again. */
function NewSecret({ created, onDone }: { created: NewApiKeyCreated; onDone(): void }) {
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret);
      toast.success("Copied the key.");
    } catch {
      toast.error("The browser did not allow copying: select the key and copy it by hand.");
    }
  };
  return (
    <div className="banner pending" role="alert" aria-label="New API key">
      <p>
        The key <strong>{created.key.name}</strong>. Copy it now: it is shown this once only. Gateways send it as{" "}
        <code>X-API-Key</code> or <code>Authorization: Bearer</code> with <code>POST /api/readings</code>.
      </p>
      <p>
        <code data-testid="api-key-secret">{created.secret}</code>{" "}
        <button type="button" className="small" onClick={copy}>
          Copy
        </button>{" "}
        <button type="button" className="ghost small" onClick={onDone}>
          Done
        </button>
      </p>
    </div>
  );
}

function NewKeyForm({ onCreated }: { onCreated(created: NewApiKeyCreated): void }) {
  const locations = [...new Set(Object.values(useStore(live, (s) => s.devices)).map((d) => d.location))].sort();
  const create = useCreateApiKey();
  const [name, setName] = useState("");
  const [devices, setDevices] = useState("");
  const [places, setPlaces] = useState("");
  const [autoRegister, setAutoRegister] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const body = { name, devices: names(devices), locations: names(places), autoRegister };
      onCreated(await create.mutateAsync(body));
      setName("");
      setDevices("");
      setPlaces("");
      setAutoRegister(false);
    } catch (error) {
      showError(error, "Making the key");
    }
  };

  return (
    <form className="form inline" onSubmit={submit} aria-label="New API key">
      <label>
        Name
        <input
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={100}
          placeholder="Line 1 gateway"
        />
      </label>
      <label>
        Devices
        <input value={devices} onChange={(e) => setDevices(e.target.value)} placeholder="device-001, device-002" />
      </label>
      <label>
        Locations
        <input
          value={places}
          onChange={(e) => setPlaces(e.target.value)}
          placeholder={locations.slice(0, 2).join(", ") || "assembly-line-1"}
          list="known-locations"
        />
        <datalist id="known-locations">
          {locations.map((l) => (
            <option key={l} value={l} />
          ))}
        </datalist>
      </label>
      <label>
        <input type="checkbox" checked={autoRegister} onChange={(e) => setAutoRegister(e.target.checked)} />
        Registers new devices
      </label>
      <button type="submit" disabled={create.isPending}>
        Make key
      </button>
    </form>
  );
}

function KeyRow({ apiKey }: { apiKey: ApiKey }) {
  const revoke = useRevokeApiKey();
  const remove = async () => {
    if (!window.confirm(`Revoke the key ${apiKey.name}? Gateways using it are refused from now on.`)) return;
    try {
      await revoke.mutateAsync(apiKey.id);
      toast.success(`Revoked ${apiKey.name}.`);
    } catch (error) {
      showError(error, "Revoking the key");
    }
  };
  return (
    <tr className={apiKey.revokedAt ? "muted" : undefined}>
      <td>
        <strong>{apiKey.name}</strong> <code className="muted small">{apiKey.hint}…</code>
      </td>
      <td>{scope(apiKey)}</td>
      <td>{apiKey.autoRegister ? "Yes" : "No"}</td>
      <td>
        {formatTime(apiKey.createdAt, true)} <span className="muted small">by {apiKey.createdBy}</span>
      </td>
      <td>{apiKey.lastUsedAt ? formatTime(apiKey.lastUsedAt, true) : "Never"}</td>
      <td className="actions">
        {apiKey.revokedAt ? (
          `Revoked ${formatTime(apiKey.revokedAt, true)}`
        ) : (
          <button type="button" className="ghost small" onClick={remove} disabled={revoke.isPending}>
            Revoke
          </button>
        )}
      </td>
    </tr>
  );
}

export function KeysView() {
  const admin = isAdmin(useStore(session, (s) => s));
  const keys = useQuery({ ...apiKeysQuery(), enabled: admin });
  const [created, setCreated] = useState<NewApiKeyCreated | null>(null);

  if (!admin)
    return (
      <section className="card empty">
        <h1>API keys</h1>
        <p>Only admins manage the gateways&apos; API keys: log in as an admin.</p>
      </section>
    );

  return (
    <section className="card" aria-label="API keys">
      <h1>API keys</h1>
      <p className="muted small">
        Gateways write readings with a key. A key may be limited to devices and locations (a device&apos;s registered
        location counts); with neither it writes every device.
      </p>
      {created && <NewSecret created={created} onDone={() => setCreated(null)} />}
      <NewKeyForm onCreated={setCreated} />
      <Notice loading={keys.isPending} error={keys.error} empty={keys.data?.length === 0 && "No keys yet."} />
      {keys.data && keys.data.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Writes</th>
                <th scope="col">Registers new devices</th>
                <th scope="col">Made</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Revoke</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <KeyRow key={k.id} apiKey={k} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
