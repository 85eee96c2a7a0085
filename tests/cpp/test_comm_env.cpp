// Launch detection from the environment (MPI, torchrun, Slurm, none), the store token rule, machine identity and
// Slurm nodelists. The fixture clears every variable detect_launch() reads, so the result does not depend on
// where the tests run (a CI job inside Slurm or mpirun), and restores them afterwards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "iccrt/core/error.hpp"
#include "src/comm/bootstrap/env.hpp"

namespace iccrt::comm {
namespace {

const char* const kLaunchVars[] = {
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "PMIX_NAMESPACE",
    "OMPI_MCA_orte_hnp_uri",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
    "SLURM_JOB_ID",
    "SLURM_STEP_NODELIST",
    "SLURM_JOB_NODELIST",
    "SLURM_NODELIST",
    "ICCRT_STORE_TOKEN",
};

class LaunchEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* n : kLaunchVars) {
      if (const char* v = std::getenv(n)) saved_[n] = v;
      ::unsetenv(n);
    }
  }
  void TearDown() override {
    for (const char* n : kLaunchVars) ::unsetenv(n);
    for (const auto& [n, v] : saved_) ::setenv(n.c_str(), v.c_str(), 1);
  }
  static void set(const char* name, const char* value) { ::setenv(name, value, 1); }
  static void set_all(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [n, v] : vars) set(n, v);
  }
  // detect_launch() must raise ValueError whose message names `var` (and `value`, when given).
  static void expect_value_error(const std::string& var, const std::string& value = "") {
    try {
      detect_launch();
      ADD_FAILURE() << "no ValueError naming " << var;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(var), std::string::npos) << e.what();
      if (!value.empty()) {
        EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
      }
    }
  }

 private:
  std::map<std::string, std::string> saved_;
};

TEST_F(LaunchEnv, NothingSetIsSingle) {
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.method, LaunchInfo::Method::Single);
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.size, 1);
  EXPECT_EQ(info.local_rank, -1);
  EXPECT_FALSE(info.token.empty());
  EXPECT_STREQ(to_string(info.method), "single");
}

TEST_F(LaunchEnv, OpenMpi) {
  set_all({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.method, LaunchInfo::Method::Mpi);
  EXPECT_STREQ(to_string(info.method), "mpi");
  EXPECT_EQ(info.rank, 2);
  EXPECT_EQ(info.size, 4);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_TRUE(info.master_addr.empty());  // MPI launches do not need a rendezvous address
  set_all({{"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "29400"}});
  info = detect_launch();
  EXPECT_EQ(info.master_addr, "10.1.2.3");
  EXPECT_EQ(info.master_port, 29400);
}

TEST_F(LaunchEnv, PmiAndPmix) {
  set_all({{"PMI_RANK", "1"}, {"PMI_SIZE", "3"}});
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.method, LaunchInfo::Method::Mpi);
  EXPECT_EQ(info.rank, 1);
  EXPECT_EQ(info.size, 3);
  EXPECT_EQ(info.local_rank, -1);
  ::unsetenv("PMI_RANK"), ::unsetenv("PMI_SIZE");
  set("PMIX_RANK", "5");
  expect_value_error("PMIX_RANK");  // PMIx alone says no world size
  set("SLURM_NTASKS", "8");
  info = detect_launch();
  EXPECT_EQ(info.method, LaunchInfo::Method::Mpi);
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.size, 8);
}

TEST_F(LaunchEnv, MpiErrors) {
  set("OMPI_COMM_WORLD_RANK", "0");
  expect_value_error("OMPI_COMM_WORLD_SIZE");
  set("OMPI_COMM_WORLD_SIZE", "two");
  expect_value_error("OMPI_COMM_WORLD_SIZE", "two");
  set_all({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "2"}});
  expect_value_error("OMPI_COMM_WORLD_RANK", "2");
  set_all({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "-1"}});
  expect_value_error("OMPI_COMM_WORLD_LOCAL_RANK", "-1");
}

TEST_F(LaunchEnv, Torchrun) {
  set_all(
      {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29500"}});
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.method, LaunchInfo::Method::Torchrun);
  EXPECT_STREQ(to_string(info.method), "torchrun");
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.size, 4);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "node7");
  EXPECT_EQ(info.master_port, 29500);
}

TEST_F(LaunchEnv, TorchrunErrors) {
  set_all({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}});
  expect_value_error("MASTER_ADDR");
  set("MASTER_ADDR", "h");
  ::unsetenv("MASTER_PORT");
  expect_value_error("MASTER_PORT");
  set("MASTER_PORT", "70000");
  expect_value_error("MASTER_PORT", "70000");
  set("MASTER_PORT", "29500");
  set("RANK", "abc");
  expect_value_error("RANK", "abc");
  set("RANK", "1 ");
  expect_value_error("RANK");
  set("RANK", "-1");
  expect_value_error("RANK", "-1");
  set("RANK", "0");
  set("WORLD_SIZE", "0");
  expect_value_error("WORLD_SIZE", "0");
  ::unsetenv("WORLD_SIZE");
  expect_value_error("WORLD_SIZE");
  set("WORLD_SIZE", "2");
  EXPECT_EQ(detect_launch().size, 2);
}

TEST_F(LaunchEnv, Slurm) {
  set_all({{"SLURM_PROCID", "3"},
           {"SLURM_NTASKS", "8"},
           {"SLURM_LOCALID", "1"},
           {"SLURM_JOB_ID", "123456"},
           {"SLURM_JOB_NODELIST", "node[03-05,07],gpu1"}});
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.method, LaunchInfo::Method::Slurm);
  EXPECT_STREQ(to_string(info.method), "slurm");
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.size, 8);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "node03");
  EXPECT_EQ(info.master_port, 20000 + 123456 % 20000);
  set("SLURM_STEP_NODELIST", "gpu[11-12]");  // the step's nodes win over the job's
  EXPECT_EQ(detect_launch().master_addr, "gpu11");
  set_all({{"MASTER_ADDR", "login1"}, {"MASTER_PORT", "1234"}});  // explicit values win over derived ones
  info = detect_launch();
  EXPECT_EQ(info.master_addr, "login1");
  EXPECT_EQ(info.master_port, 1234);
}

TEST_F(LaunchEnv, SlurmErrors) {
  set_all({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_ID", "77"}});
  expect_value_error("MASTER_ADDR");  // neither MASTER_ADDR nor a nodelist
  set("SLURM_JOB_NODELIST", "n1");
  EXPECT_EQ(detect_launch().master_port, 20077);
  ::unsetenv("SLURM_JOB_ID");
  expect_value_error("SLURM_JOB_ID");
  set("SLURM_JOB_ID", "x77");
  expect_value_error("SLURM_JOB_ID", "x77");
  set("SLURM_JOB_ID", "77");
  ::unsetenv("SLURM_NTASKS");
  expect_value_error("SLURM_NTASKS");
  set("SLURM_NTASKS", "2");
  set("SLURM_PROCID", "5");
  expect_value_error("SLURM_PROCID", "5");
  set("SLURM_PROCID", "1");
  set("SLURM_JOB_NODELIST", "n[1-2");
  EXPECT_THROW(detect_launch(), ValueError);
}

TEST_F(LaunchEnv, MpiThenTorchrunThenSlurm) {
  set_all({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_ID", "9"}, {"SLURM_JOB_NODELIST", "a"}});
  EXPECT_EQ(detect_launch().method, LaunchInfo::Method::Slurm);
  set_all({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "5"}});
  EXPECT_EQ(detect_launch().method, LaunchInfo::Method::Torchrun);  // torchrun inside an allocation
  set_all({{"PMI_RANK", "0"}, {"PMI_SIZE", "1"}});
  EXPECT_EQ(detect_launch().method, LaunchInfo::Method::Mpi);
}

TEST_F(LaunchEnv, TokenRule) {
  set_all({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "29500"}});
  const std::string base = detect_launch().token;
  EXPECT_EQ(base.size(), 32u);
  set("RANK", "1");
  EXPECT_EQ(detect_launch().token, base);  // every rank derives the same token
  set("MASTER_PORT", "29501");
  const std::string other_port = detect_launch().token;
  EXPECT_NE(other_port, base);
  set("TORCHELASTIC_RUN_ID", "run-a");
  const std::string run_a = detect_launch().token;
  set("TORCHELASTIC_RUN_ID", "run-b");
  EXPECT_NE(detect_launch().token, run_a);
  EXPECT_NE(run_a, other_port);
  set("ICCRT_STORE_TOKEN", "my secret");
  EXPECT_EQ(detect_launch().token, "my secret");
  set("ICCRT_STORE_TOKEN", "");  // empty counts as unset
  EXPECT_EQ(detect_launch().token.size(), 32u);
}

TEST(EnvMachineIdentity, StableAndStartsWithHostname) {
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  const std::string id = machine_identity();
  EXPECT_EQ(id, machine_identity());
  EXPECT_EQ(id.rfind(host, 0), 0u) << id;
  EXPECT_GT(id.size(), std::string(host).size());  // the boot id is appended (Linux has /proc)
}

TEST(EnvSlurmFirstHost, Nodelists) {
  EXPECT_EQ(slurm_first_host("node[03-05,07],gpu1"), "node03");
  EXPECT_EQ(slurm_first_host("a1,b2"), "a1");
  EXPECT_EQ(slurm_first_host("solo"), "solo");
  EXPECT_EQ(slurm_first_host("gpu-[7,9]"), "gpu-7");
  EXPECT_EQ(slurm_first_host("rack[1-2]-n[01-04]"), "rack1-n01");
  EXPECT_EQ(slurm_first_host("x[10-12]-ib,y1"), "x10-ib");
  EXPECT_THROW(slurm_first_host(""), ValueError);
  EXPECT_THROW(slurm_first_host("n[1-2"), ValueError);
  EXPECT_THROW(slurm_first_host("n]1["), ValueError);
  EXPECT_THROW(slurm_first_host("n[]"), ValueError);
  EXPECT_THROW(slurm_first_host(",a"), ValueError);
}

}  // namespace
}  // namespace iccrt::comm
