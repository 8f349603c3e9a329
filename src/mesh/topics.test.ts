import { expect, test } from "bun:test";
import { nodeTopic, topicMatches } from "./topics.ts";

test("topic tree and wildcard matching follow MQTT", () => {
  expect(nodeTopic("home", "kitchen", "presence")).toBe("kiana/v1/home/kitchen/presence");
  expect(() => nodeTopic("home", "a/b")).toThrow(/not a valid topic level/);
  expect(() => nodeTopic("home", "+")).toThrow();
  expect(topicMatches("kiana/v1/home/+/presence", "kiana/v1/home/kitchen/presence")).toBe(true);
  expect(topicMatches("kiana/v1/home/+/presence", "kiana/v1/home/kitchen/x/presence")).toBe(false);
  expect(topicMatches("kiana/v1/home/#", "kiana/v1/home")).toBe(true);
  expect(topicMatches("kiana/v1/home/#", "kiana/v1/home/a/b")).toBe(true);
  expect(topicMatches("kiana/v1/home", "kiana/v1/home/a")).toBe(false);
  expect(topicMatches("#", "anything/at/all")).toBe(true);
});
