import { chainStoreContract } from "../store-contract.test-helper.ts";
import { createMemoryChainStore } from "./memory.ts";

chainStoreContract("memory", () => ({ store: createMemoryChainStore() }));
