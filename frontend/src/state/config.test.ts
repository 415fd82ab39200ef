import { device } from "../test-fixtures";
import { checkConfig, toForm } from "./config";

describe("the configuration form", () => {
  const current = device().config;

  it("sends only what changed", () => {
    const form = { ...toForm(current), alertMax: "90", breachCount: "3" };
    expect(checkConfig(form, current)).toEqual({ body: { alertMax: 90, breachCount: 3 }, problems: {} });
  });

  it("clears a limit with an empty field and refuses an empty required one", () => {
    expect(checkConfig({ ...toForm(current), alertMin: "" }, current).body).toEqual({ alertMin: null });
    expect(checkConfig({ ...toForm(current), breachCount: "" }, current).problems).toEqual({ breachCount: "required" });
  });

  it("says what is wrong: numbers, whole numbers, bounds and the order of the limits", () => {
    const { problems } = checkConfig(
      { ...toForm(current), normalMax: "abc", breachCount: "1.5", hysteresisPct: "101", alertMin: "25" },
      current,
    );
    expect(problems).toEqual({
      normalMax: "not a number",
      breachCount: "a whole number",
      hysteresisPct: "at most 100",
      normalMin: "must be above alert below",
    });
  });

  it("takes its limits from the service's contract: a sensitivity must be more than 0", () => {
    const { problems } = checkConfig({ ...toForm(current), anomalySensitivity: "0" }, current);
    expect(problems).toEqual({ anomalySensitivity: "more than 0" });
    expect(checkConfig({ ...toForm(current), anomalySensitivity: "0.5" }, current).problems).toEqual({});
  });
});
