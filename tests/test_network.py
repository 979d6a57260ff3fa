from __future__ import annotations

import torch

from dagmm.network import DAGMMNet, reconstruction_features
from dagmm.training import TrainingConfig, dagmm_objective


def _net(members=1, dropout=0.5):
    net = DAGMMNet(6, (8, 4), 1, (10,), 3, dropout=dropout, n_members=members)
    net.reset_parameters(list(range(members)))
    return net


def test_reconstruction_features_guarded_at_zero():
    x = torch.zeros(1, 4, 5, requires_grad=True)
    x_hat = torch.zeros(1, 4, 5, requires_grad=True)
    feats = reconstruction_features(x, x_hat)
    assert torch.isfinite(feats).all()
    feats.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(x_hat.grad).all()


def test_reconstruction_features_values():
    x = torch.tensor([[[3.0, 4.0]]])
    x_hat = torch.tensor([[[3.0, 0.0]]])
    rel, cos = reconstruction_features(x, x_hat)[0, 0]
    assert abs(rel.item() - 4.0 / 5.0) < 1e-6
    assert abs(cos.item() - 9.0 / 15.0) < 1e-6


def test_member_copy_matches_ensemble_slice():
    net = _net(members=3).eval()
    x = torch.randn(1, 20, 6).expand(3, -1, -1)
    out = net(x)
    for s in range(3):
        single = net.member(s).eval()(x[s : s + 1])
        torch.testing.assert_close(single.z[0], out.z[s])
        torch.testing.assert_close(single.gamma[0], out.gamma[s])


def test_members_are_initialised_independently_and_reproducibly():
    a, b = _net(members=2), _net(members=2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=False):
        torch.testing.assert_close(pa, pb)
    w = a.encoder[0].weight
    assert not torch.equal(w[0], w[1])


def test_dropout_only_in_training():
    net = _net()
    x = torch.randn(1, 50, 6)
    net.eval()
    torch.testing.assert_close(net(x).gamma, net(x).gamma)
    net.train()
    torch.manual_seed(0)
    g1 = net(x).gamma
    g2 = net(x).gamma
    assert not torch.equal(g1, g2)


def test_one_step_trains_every_parameter():
    torch.manual_seed(0)
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    config = TrainingConfig(epochs=1, batch_size=64, learning_rate=1e-3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    out = net(torch.randn(1, 64, 6))
    terms = dagmm_objective(out, config)
    terms.total.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    opt.step()
    for (name, p), old in zip(net.named_parameters(), before, strict=False):
        assert not torch.equal(p, old), name


def test_objective_terms_follow_eq7():
    torch.manual_seed(1)
    net = _net().eval()
    out = net(torch.randn(1, 32, 6))
    config = TrainingConfig(epochs=1, batch_size=32, learning_rate=1e-3)
    terms = dagmm_objective(out, config)
    recon = (out.x - out.x_hat).square().sum(-1).mean()
    torch.testing.assert_close(terms.reconstruction[0], recon)
    expected = terms.reconstruction + 0.1 * terms.energy + 0.005 * terms.penalty
    torch.testing.assert_close(terms.total, expected)
    mean_cfg = TrainingConfig(
        epochs=1, batch_size=32, learning_rate=1e-3, reconstruction_loss="mean"
    )
    torch.testing.assert_close(dagmm_objective(out, mean_cfg).reconstruction[0], recon / 6)
